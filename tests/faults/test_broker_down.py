"""The broker stops while people label: the web (gunicorn) keeps handing out items and
taking answers, the retrain those answers call for waits in the database, and once the
broker is back (empty: its messages are lost) beat's recovery sends it and it runs."""

import time

import pytest
from rest_framework.authtoken.models import Token

from annotator.models import Annotation, Item, Membership
from learning.models import TrainingRun
from tests.factories import MembershipFactory
from tests.processes import WebServer, wait_for

pytestmark = [pytest.mark.slow, pytest.mark.worker, pytest.mark.django_db(transaction=True)]


def _label(web: WebServer, project, token: str) -> tuple[str, float]:
    """Lease the next item and answer it with its true leaf: the key and the seconds."""
    started = time.monotonic()
    status, lease = web.call("POST", f"/api/projects/{project.pk}/queue/next/", token=token)
    assert status == 200, lease
    item = Item.objects.get(pk=lease["item"]["id"])
    key = f"answer-{item.pk}"
    body = {"node": item.ground_truth_id, "lease": lease["lease"]["id"], "idempotency_key": key}
    status, stored = web.call("POST", f"/api/items/{item.pk}/annotations/", token=token, body=body)
    assert status == 201, stored
    return key, time.monotonic() - started


def test_broker_stopped_the_web_takes_answers_and_training_resumes(
    easy_project, broker, workers, tmp_path
):
    project = easy_project  # retrains after 20 answers
    annotator = MembershipFactory(project=project, role=Membership.Role.ANNOTATOR).user
    token = Token.objects.create(user=annotator).key
    workers(beat=True, environment={"ARBOR_TRAINING_PERIOD_SECONDS": "1"})
    web = WebServer(
        tmp_path / "web.log",
        environment={"TEST_CELERY_BROKER_URL": broker.url, "ARBOR_AUTO_RETRAIN": "true"},
    )
    try:
        # Stopped before the first answer: beat, every second, would otherwise queue a
        # periodic retrain for the answers given while the broker was up.
        broker.stop()
        during = [_label(web, project, token) for _ in range(20)]
        keys = [key for key, _ in during]
        # The 20th answer asked for a retrain: it waits in the database, not in the broker.
        run = TrainingRun.objects.get(project=project)
        assert run.state == TrainingRun.State.QUEUED

        broker.start()
        back = time.monotonic()
        wait_for(
            lambda: TrainingRun.objects.get(pk=run.pk).state in ("succeeded", "failed"),
            180,
            "the retrain to run once the broker is back",
        )
        resumed = time.monotonic() - back
    finally:
        web.stop()
    run.refresh_from_db()
    assert run.state == TrainingRun.State.SUCCEEDED, run.error
    stored = Annotation.objects.filter(project=project, annotator=annotator)
    assert sorted(stored.values_list("idempotency_key", flat=True)) == sorted(keys)
    slowest = max(seconds for _, seconds in during)
    print(f"broker down: 20 answers, slowest pair {slowest:.2f} s; run done {resumed:.1f} s after")
