import threading
from datetime import timedelta

import numpy as np
import pytest
from django.db import connection

from annotator import services as annotator_services
from annotator.jobs import Outcome
from annotator.models import Annotation, Item, Membership, ModelVersion, Prediction
from learning import pipeline, services
from learning.models import GuideExample, TrainingRun
from tests.factories import MembershipFactory
from tests.helpers import answer
from tests.learning.conftest import answer_truthfully


def _train(project, django_capture_on_commit_callbacks) -> TrainingRun:
    with django_capture_on_commit_callbacks(execute=True):
        run, created = services.training_run_request(project=project, trigger="manual")
    assert created
    run.refresh_from_db()
    return run


@pytest.mark.django_db
def test_a_run_trains_scores_selects_and_reorders_the_queue(
    cifar_project, cifar_annotator, django_capture_on_commit_callbacks, api
):
    answer_truthfully(cifar_project, cifar_annotator, 120)

    run = _train(cifar_project, django_capture_on_commit_callbacks)

    assert run.state == TrainingRun.State.SUCCEEDED, run.error
    assert set(run.timings) >= {"train_s", "score_s", "select_s"}
    version = ModelVersion.objects.get(training_run=run)
    assert version.version == 1 and version.human_labels == 120
    # The folders' ground truth measures the model: well above chance (10%).
    assert version.metrics["gold"]["acc_fine"] > 0.2
    assert version.metrics["gold"]["acc_coarse"] > 0.6
    confusion = np.array(version.metrics["gold"]["confusion"])
    assert confusion.shape == (10, 10)
    assert confusion.sum() == version.metrics["gold"]["n"]
    assert np.trace(confusion) / confusion.sum() == pytest.approx(
        version.metrics["gold"]["acc_fine"]
    )
    assert version.metrics["gold"]["leaves"][0] == "vehicle/airplane"
    # The labeling guide's examples came from this run: human-labelled items of the class.
    typical = GuideExample.objects.filter(model_version=version, kind="typical")
    assert typical.filter(node__path="animal/cat").count() == 6
    for example in typical.filter(node__is_leaf=True):
        assert example.item.annotations.get().node == example.node
    assert GuideExample.objects.filter(model_version=version, kind="lookalike").exists()
    unlabeled = Item.objects.filter(project=cifar_project, state=Item.State.UNLABELED)
    assert Prediction.objects.filter(model_version=version).count() == unlabeled.count()
    shadow = unlabeled.filter(sample=Item.Sample.SHADOW)
    assert shadow.count() == 40
    picked = Prediction.objects.filter(model_version=version).exclude(strategy="")
    assert picked.count() == cifar_project.batch_size
    assert all(p.priority >= 2.0 for p in picked)

    # The queue serves the new order at once: the shadow sample first, then the batch.
    body = api(cifar_annotator).post(f"/api/projects/{cifar_project.id}/queue/next/").json()
    assert body["prediction"]["model_version"] == 1
    served = Item.objects.get(pk=body["item"]["id"])
    assert body["mode"] == Prediction.objects.get(item=served, model_version=version).question
    assert served.sample == Item.Sample.SHADOW
    assert len(body["prediction"]["levels"]) == 2
    coarse, fine = body["prediction"]["levels"]
    assert fine["path"].startswith(coarse["path"] + "/")


@pytest.mark.django_db
def test_predictions_route_by_confidence(
    cifar_project, cifar_annotator, django_capture_on_commit_callbacks
):
    answer_truthfully(cifar_project, cifar_annotator, 150)
    run = _train(cifar_project, django_capture_on_commit_callbacks)

    predictions = Prediction.objects.filter(model_version__training_run=run).exclude(
        item__sample=Item.Sample.AUDIT
    )
    for prediction in predictions:
        coarse, fine = (level["p"] for level in prediction.path)
        if prediction.mode == "verify":
            assert coarse >= 0.9 and fine / coarse >= 0.9 - 1e-3
        elif prediction.mode == "fine":
            assert coarse >= 0.9 and prediction.settled_depth == 1
        else:
            assert prediction.settled_depth == 0
    assert {p.mode for p in predictions} >= {"full"}


@pytest.mark.django_db
def test_redelivered_run_writes_no_second_version(
    cifar_project, cifar_annotator, django_capture_on_commit_callbacks
):
    answer_truthfully(cifar_project, cifar_annotator, 60)
    run = _train(cifar_project, django_capture_on_commit_callbacks)

    assert services.training_run_execute(run_id=run.pk) == Outcome.SKIPPED
    assert ModelVersion.objects.filter(project=cifar_project).count() == 1


@pytest.mark.django_db
def test_failed_round_is_recorded(project, django_capture_on_commit_callbacks):
    # A project with a taxonomy but no items: nothing to train on is an error to read.
    run = _train(project, django_capture_on_commit_callbacks)
    assert run.state == TrainingRun.State.FAILED
    assert run.error
    assert not ModelVersion.objects.exists()


@pytest.mark.django_db
def test_annotations_trigger_one_retrain_every_n(
    cifar_project, cifar_annotator, settings, django_capture_on_commit_callbacks, monkeypatch
):
    settings.ARBOR_AUTO_RETRAIN = True
    requested = []
    monkeypatch.setattr(services, "_enqueue_run", requested.append)
    with django_capture_on_commit_callbacks(execute=True):
        answer_truthfully(cifar_project, cifar_annotator, 19)
    assert requested == []
    with django_capture_on_commit_callbacks(execute=True):
        answer_truthfully(cifar_project, cifar_annotator, 1)
    assert len(requested) == 1
    with django_capture_on_commit_callbacks(execute=True):
        answer_truthfully(cifar_project, cifar_annotator, 25)  # run still queued: no second
    assert len(requested) == 1
    assert TrainingRun.objects.filter(project=cifar_project).count() == 1


@pytest.mark.django_db
def test_label_review_flags_wrong_human_labels_and_a_lead_resolves_them(
    cifar_project, cifar_annotator, django_capture_on_commit_callbacks, api
):
    from annotator.models import Membership, TaxonomyNode
    from learning.models import LabelIssue
    from tests.factories import MembershipFactory

    leaves = list(TaxonomyNode.objects.filter(taxonomy__project=cifar_project, is_leaf=True))
    wrong = set()
    for number in range(200):
        lease = annotator_services.queue_next(project=cifar_project, user=cifar_annotator)
        truth = lease.item.ground_truth
        given = truth
        if number % 10 == 0:  # one answer in ten is a confident mistake: another class
            given = next(leaf for leaf in leaves if leaf.parent_id != truth.parent_id)
            wrong.add(lease.item.pk)
        answer(
            project=cifar_project,
            user=cifar_annotator,
            node=given,
            lease=lease,
            idempotency_key=str(number),
        )

    run = _train(cifar_project, django_capture_on_commit_callbacks)

    issues = LabelIssue.objects.filter(project=cifar_project, model_version__training_run=run)
    flagged = {issue.annotation.item_id for issue in issues}
    assert flagged, "cleanlab flagged nothing"
    # Twice as precise as flagging at random (10% of the labels are wrong), and most
    # of the mistakes are found, even with the small test model.
    assert len(flagged & wrong) / len(flagged) >= 0.2
    assert len(flagged & wrong) >= len(wrong) / 2
    issue = issues.filter(annotation__item_id__in=wrong).first()
    lead = MembershipFactory(project=cifar_project, role=Membership.Role.LEAD).user
    listed = api(lead).get(f"/api/projects/{cifar_project.id}/label-issues/").json()["results"]
    assert issue.id in [row["id"] for row in listed]
    truth = issue.annotation.item.ground_truth

    assert (
        api(cifar_annotator)
        .post(f"/api/label-issues/{issue.id}/resolve/", {"action": "keep"})
        .status_code
        == 404
    )
    resolved = api(lead).post(
        f"/api/label-issues/{issue.id}/resolve/",
        {"action": "correct", "node": truth.path},
        format="json",
    )
    again = api(lead).post(
        f"/api/label-issues/{issue.id}/resolve/", {"action": "keep"}, format="json"
    )

    assert resolved.status_code == 200 and resolved.json()["state"] == "corrected"
    assert again.status_code == 409
    correction = Annotation.objects.get(pk=resolved.json()["resolution"])
    assert correction.node == truth and correction.source == Annotation.Source.CORRECTED


def _served_first(project, leaves: int, per_leaf: int) -> None:
    """The queue serves ``per_leaf`` items of each of the first ``leaves`` leaves first.

    Before a model the queue's order is random, and 40 random answers of 400 miss a
    whole leaf one time in seven (10 x 0.9^40).
    """
    for leaf in project.taxonomies.get().nodes.filter(is_leaf=True).order_by("id")[:leaves]:
        first = Item.objects.filter(project=project, ground_truth=leaf).order_by("id")[:per_leaf]
        Item.objects.filter(pk__in=list(first.values_list("pk", flat=True))).update(priority=10)


def _cascade_on(project) -> None:
    project.auto_accept_enabled = True
    project.auto_accept_target = 0.9
    project.audit_size = 80
    project.save()


@pytest.mark.django_db
def test_cascade_audits_then_auto_accepts_and_can_be_revoked(
    easy_project, django_capture_on_commit_callbacks, api
):
    from annotator.models import AuditEvent, Membership
    from tests.factories import MembershipFactory

    project = easy_project
    annotator = MembershipFactory(project=project, role=Membership.Role.ANNOTATOR).user
    lead = MembershipFactory(project=project, role=Membership.Role.LEAD).user
    _served_first(project, leaves=10, per_leaf=4)  # every leaf labelled: see the next test
    answer_truthfully(project, annotator, 40)
    uncalibrated = _train(project, django_capture_on_commit_callbacks)  # draws the shadow sample
    answer_truthfully(project, annotator, 20)  # the shadow sample calibrates the next model
    # Switched on now, so the calibrated model is the one that draws the audit sample.
    _cascade_on(project)
    first = _train(project, django_capture_on_commit_callbacks)
    assert first.state == TrainingRun.State.SUCCEEDED, first.error
    # Sharper or softer depends on the draw; fitted at all is what the shadow labels give.
    assert uncalibrated.model_version.metrics["temperature"] == 1.0
    assert first.model_version.metrics["temperature"] != 1.0
    audit = Item.objects.filter(project=project, sample=Item.Sample.AUDIT)
    audited = audit.count()  # up to 80, among the predictions the model is >= 50% sure of
    # 22 all-correct audits support 90% precision
    assert 25 <= audited <= 80, first.model_version.metrics
    audit_predictions = Prediction.objects.filter(model_version__training_run=first, item__in=audit)
    assert set(audit_predictions.values_list("mode", flat=True)) == {"verify"}
    assert min(audit_predictions.values_list("confidence", flat=True)) >= 0.5
    assert not Annotation.objects.filter(source=Annotation.Source.AUTO).exists()

    answer_truthfully(project, annotator, audited)  # the audit sample
    assert not audit.filter(state=Item.State.UNLABELED).exists()
    second = _train(project, django_capture_on_commit_callbacks)

    cascade = ModelVersion.objects.get(training_run=second).metrics["cascade"]
    assert cascade["audited"] == audited
    auto = Annotation.objects.filter(project=project, source=Annotation.Source.AUTO)
    assert cascade["accepted"] == auto.count() > 0, cascade
    assert cascade["precision_lower_bound"] >= 0.9
    correct = sum(a.node_id == a.item.ground_truth_id for a in auto.select_related("item"))
    assert correct / auto.count() >= 0.9
    assert not auto.filter(item__sample__in=[Item.Sample.SHADOW, Item.Sample.AUDIT]).exists()
    assert not auto.filter(item__annotations__source=Annotation.Source.MANUAL).exists()

    assert api(annotator).post(f"/api/projects/{project.id}/auto-labels/revoke/").status_code == 404
    response = api(lead).post(f"/api/projects/{project.id}/auto-labels/revoke/", {}, format="json")

    assert response.json() == {"revoked": cascade["accepted"]}
    assert not auto.exists()
    assert AuditEvent.objects.filter(project=project, action="autolabel.revoke").exists()
    unlabeled = Item.objects.filter(project=project, state=Item.State.UNLABELED)
    assert unlabeled.count() == 400 - 60 - audited


@pytest.mark.django_db
def test_a_model_blind_to_some_leaves_is_too_unsure_to_audit(
    easy_project, django_capture_on_commit_callbacks
):
    """The shadow sample shows the model confidently wrong on the leaves no one labelled;
    its calibration then leaves no prediction sure enough to audit or accept."""
    project = easy_project
    annotator = MembershipFactory(project=project, role=Membership.Role.ANNOTATOR).user
    _served_first(project, leaves=7, per_leaf=6)  # 3 leaves of 10 never labelled
    answer_truthfully(project, annotator, 42)
    _train(project, django_capture_on_commit_callbacks)  # draws the shadow sample
    answer_truthfully(project, annotator, 20)
    _cascade_on(project)

    run = _train(project, django_capture_on_commit_callbacks)

    metrics = run.model_version.metrics
    assert metrics["shadow"]["acc_fine"] < 0.9 and metrics["temperature"] > 1.0, metrics
    assert not Item.objects.filter(project=project, sample=Item.Sample.AUDIT).exists()
    assert metrics["cascade"] == {"audited": 0, "correct": 0, "accepted": 0}
    assert not Annotation.objects.filter(source=Annotation.Source.AUTO).exists()


def test_a_run_whose_message_is_lost_is_sent_again_by_recovery(
    project, lead, api, monkeypatch, django_capture_on_commit_callbacks
):
    def broker_down(*args, **kwargs):
        raise ConnectionError("broker unreachable")

    monkeypatch.setattr("learning.tasks.training_run.delay", broker_down)
    with django_capture_on_commit_callbacks(execute=True):
        response = api(lead).post(f"/api/projects/{project.id}/training-runs/")
    # The trigger is answered, not a 500, and the run waits for recovery.
    assert response.status_code == 202
    run = TrainingRun.objects.get(pk=response.json()["id"])
    assert run.state == "queued"

    sent = []
    monkeypatch.setattr("learning.tasks.training_run.delay", sent.append)
    assert services.training_runs_recover() == []  # not lost yet: it may still be on its way
    TrainingRun.objects.filter(pk=run.pk).update(created_at=run.created_at - timedelta(hours=1))
    assert services.training_runs_recover() == [run.pk]
    assert sent == [run.pk]


@pytest.mark.django_db(transaction=True)
def test_the_queue_keeps_serving_while_a_retrain_writes(
    easy_project, monkeypatch, django_capture_on_commit_callbacks
):
    """The write phase once ran in one transaction that row-locked every unlabeled item,
    so the queue (SKIP LOCKED) answered "nothing left" to everyone until it committed."""
    annotator = MembershipFactory(project=easy_project, role=Membership.Role.ANNOTATOR).user
    answer_truthfully(easy_project, annotator, 40)
    colleague = MembershipFactory(project=easy_project, role=Membership.Role.ANNOTATOR).user
    served = []
    prune = pipeline._predictions_prune

    def lease_from_another_connection(version):
        # Called once the new priorities are written, before the round ends.
        def lease():
            served.append(annotator_services.queue_next(project=easy_project, user=colleague))
            connection.close()

        thread = threading.Thread(target=lease)
        thread.start()
        thread.join(timeout=30)
        prune(version)

    monkeypatch.setattr(pipeline, "_predictions_prune", lease_from_another_connection)
    run = _train(easy_project, django_capture_on_commit_callbacks)

    assert run.state == TrainingRun.State.SUCCEEDED, run.error
    assert len(served) == 1 and served[0] is not None
    # It was served by the new model's order: the item's prediction is the new version's.
    assert served[0].prediction.model_version.training_run == run
