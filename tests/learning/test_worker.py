"""The loop on a real Celery worker over Redis, against the test database."""

import os
import signal
import threading

import pytest
from django.db import connection

from annotator.celery import app as celery_app
from annotator.models import Item, Membership, ModelVersion
from learning import services
from learning.models import TrainingRun
from tests.factories import MembershipFactory
from tests.learning.conftest import answer_truthfully
from tests.processes import QUEUES, Worker, wait_for


@pytest.fixture
def worker(tmp_path):
    """Tasks go to Redis for the duration of the test, and a real worker takes them."""
    with celery_app.connection_for_write() as broker:
        for queue in QUEUES:
            broker.default_channel.queue_purge(queue)
    celery_app.conf.task_always_eager = False
    running = Worker(tmp_path / "worker.log")
    yield running
    running.stop()
    celery_app.conf.task_always_eager = True
    connection.close()


def _run_state(run_id):
    return TrainingRun.objects.get(pk=run_id).state


pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]


def test_worker_trains_selects_and_the_queue_serves_the_new_order(cifar_project, worker, api):
    annotator = MembershipFactory(project=cifar_project, role=Membership.Role.ANNOTATOR).user
    lead = MembershipFactory(project=cifar_project, role=Membership.Role.LEAD).user
    answer_truthfully(cifar_project, annotator, 60)

    response = api(lead).post(f"/api/projects/{cifar_project.id}/training-runs/")
    assert response.status_code == 202
    run_id = response.json()["id"]
    wait_for(
        lambda: _run_state(run_id) in ("succeeded", "failed"), 240, "the worker to finish the run"
    )

    run = TrainingRun.objects.get(pk=run_id)
    assert run.state == "succeeded", run.error + worker.log.read_text()[-3000:]
    assert api(lead).get(f"/api/training-runs/{run_id}/").json()["model_version"] == 1
    free = Item.objects.filter(project=cifar_project, state="unlabeled", lease_expires_at=None)
    top = free.order_by("-priority", "id").first()
    assert top.priority >= 2.0  # written by the run: the shadow sample or the batch
    body = api(annotator).post(f"/api/projects/{cifar_project.id}/queue/next/").json()
    assert body["item"]["id"] == top.id
    assert body["prediction"]["model_version"] == 1
    curve = api(lead).get(f"/api/projects/{cifar_project.id}/learning-curve/").json()["results"]
    assert [point["human_labels"] for point in curve] == [60]


def test_worker_killed_during_a_run_is_taken_over_and_finished(cifar_project, worker):
    annotator = MembershipFactory(project=cifar_project, role=Membership.Role.ANNOTATOR).user
    answer_truthfully(cifar_project, annotator, 60)
    run, _ = services.training_run_request(project=cifar_project, trigger="manual")

    wait_for(lambda: _run_state(run.pk) == "running", 60, "the run to start")
    first_claim = TrainingRun.objects.get(pk=run.pk).claim
    wait_for(worker.children, 10, "the worker's pool process")
    for child in worker.children():
        os.kill(child, signal.SIGKILL)

    wait_for(lambda: _run_state(run.pk) == "succeeded", 240, "the run to be taken over")
    run.refresh_from_db()
    # The redelivered message took the same run over under a new claim once the killed
    # worker's heartbeat went stale.
    assert run.attempts == 2
    assert run.claim != first_claim
    assert run.error == ""
    # The killed attempt wrote no model version of its own.
    assert list(
        ModelVersion.objects.filter(project=cifar_project).values_list("training_run", flat=True)
    ) == [run.pk]


def test_concurrent_triggers_queue_one_run(cifar_project, worker):
    runs, barrier = [], threading.Barrier(8)

    def trigger():
        barrier.wait()
        runs.append(services.training_run_request(project=cifar_project, trigger="annotations"))
        connection.close()

    threads = [threading.Thread(target=trigger) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert len(runs) == 8
    assert sum(created for _, created in runs) == 1
    assert len({run.pk for run, _ in runs}) == 1
    assert TrainingRun.objects.filter(project=cifar_project).count() == 1
