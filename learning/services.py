"""Writes of the learning side: training runs and what they leave behind."""

import datetime as dt
import logging
import threading
from contextlib import contextmanager

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.db import IntegrityError, close_old_connections, connection, transaction
from django.utils import timezone

from annotator.audit import audit_record
from annotator.models import Annotation, AuditEvent, Item, Project
from annotator.selectors import (
    annotation_human_list,
    taxonomy_current,
    taxonomy_node_resolve,
)
from learning.models import LabelIssue, TrainingRun

logger = logging.getLogger(__name__)


def _enqueue_run(run_id: int) -> None:
    from learning.tasks import training_run  # the tasks module imports this one

    training_run.delay(run_id)


def training_run_request(
    *,
    project: Project,
    trigger: str,
    requested_by: AbstractBaseUser | None = None,
    retry_of: TrainingRun | None = None,
) -> tuple[TrainingRun, bool]:
    """Queue a retrain unless one is already queued or running: ``(run, created)``.

    The partial unique constraint decides, so concurrent triggers cannot both win.
    """
    try:
        with transaction.atomic():
            run = TrainingRun.objects.create(
                project=project,
                trigger=trigger,
                requested_by=requested_by,
                retry_of=retry_of,
                human_labels=annotation_human_list(project=project).count(),
            )
    except IntegrityError:
        active = TrainingRun.objects.filter(
            project=project, state__in=TrainingRun.ACTIVE_STATES
        ).first()
        if active is None:  # it finished in between: try once more
            return training_run_request(
                project=project, trigger=trigger, requested_by=requested_by, retry_of=retry_of
            )
        return active, False
    transaction.on_commit(lambda: _enqueue_run(run.pk))
    return run, True


def _labels_at_last_run(project: Project) -> int:
    # A failed run counts too: retrying a broken round on every answer would only thrash.
    # (Runs lost with their worker are retried by training_runs_recover.)
    last = project.training_runs.order_by("-created_at").first()
    return last.human_labels if last else 0


def training_due(*, project: Project) -> bool:
    """Whether enough human answers arrived since the last run started."""
    baseline = _labels_at_last_run(project)
    return annotation_human_list(project=project).count() - baseline >= project.retrain_every


def training_maybe_request(*, project_id: int) -> None:
    """After an annotation: queue a retrain when the project is due one."""
    project = Project.objects.get(pk=project_id)
    if training_due(project=project):
        training_run_request(project=project, trigger=TrainingRun.Trigger.ANNOTATIONS)


def training_periodic() -> int:
    """Queue a retrain for every project with new human answers; how many were queued."""
    queued = 0
    for project in Project.objects.all():
        if annotation_human_list(project=project).count() > _labels_at_last_run(project):
            queued += training_run_request(project=project, trigger=TrainingRun.Trigger.PERIODIC)[1]
    return queued


def training_run_claim(*, run_id: int) -> bool:
    """Compare-and-swap queued -> running; False when another delivery has it."""
    now = timezone.now()
    return bool(
        TrainingRun.objects.filter(pk=run_id, state=TrainingRun.State.QUEUED).update(
            state=TrainingRun.State.RUNNING, started_at=now, heartbeat_at=now
        )
    )


def training_run_finish(*, run_id: int, state: str, error: str = "", timings=None) -> None:
    fields = {"state": state, "finished_at": timezone.now(), "error": error[:4000]}
    if timings is not None:
        fields["timings"] = timings
    TrainingRun.objects.filter(pk=run_id, state=TrainingRun.State.RUNNING).update(**fields)


@contextmanager
def heartbeat(*, run_id: int, every: float | None = None):
    """Touch the run's heartbeat from a thread while the body runs.

    A worker that dies stops beating, which is how :func:`training_runs_recover` tells a
    dead run from a long one.
    """
    every = every or settings.ARBOR_TRAINING_HEARTBEAT_SECONDS
    stop = threading.Event()

    def beat() -> None:
        try:
            while not stop.wait(every):
                TrainingRun.objects.filter(pk=run_id, state=TrainingRun.State.RUNNING).update(
                    heartbeat_at=timezone.now()
                )
        finally:
            connection.close()

    thread = threading.Thread(target=beat, name=f"heartbeat-{run_id}", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()


def training_runs_recover(*, stale_after: float | None = None) -> list[TrainingRun]:
    """Mark runs whose worker stopped beating as failed, and queue a retry of each."""
    stale_after = stale_after or settings.ARBOR_TRAINING_STALE_SECONDS
    cutoff = timezone.now() - dt.timedelta(seconds=stale_after)
    retries = []
    for run in TrainingRun.objects.filter(state=TrainingRun.State.RUNNING, heartbeat_at__lt=cutoff):
        with transaction.atomic():
            lost = TrainingRun.objects.filter(
                pk=run.pk, state=TrainingRun.State.RUNNING, heartbeat_at__lt=cutoff
            ).update(
                state=TrainingRun.State.FAILED,
                finished_at=timezone.now(),
                error="The worker stopped during the run (no heartbeat); retried.",
            )
            if lost:
                logger.warning("Training run %s lost its worker; retrying", run.pk)
                retry, _ = training_run_request(
                    project=run.project, trigger=TrainingRun.Trigger.RETRY, retry_of=run
                )
                retries.append(retry)
    close_old_connections()
    return retries


class RunOutcome:
    DONE = "done"
    FAILED = "failed"
    BUSY = "busy"
    SKIPPED = "skipped"


def training_run_execute(*, run_id: int) -> str:
    """Run a queued training run once.

    A redelivered message (its first worker died) finds the run already running: once
    the heartbeat is stale the run is marked failed and a retry is queued; a run that
    succeeded or failed is left alone, so redelivery never writes a second version.
    """
    from celery.exceptions import SoftTimeLimitExceeded

    if not training_run_claim(run_id=run_id):
        run = TrainingRun.objects.filter(pk=run_id).first()
        if run is None or run.state != TrainingRun.State.RUNNING:
            return RunOutcome.SKIPPED
        return RunOutcome.SKIPPED if training_runs_recover() else RunOutcome.BUSY
    run = TrainingRun.objects.select_related("project").get(pk=run_id)
    TrainingRun.objects.filter(pk=run_id).update(
        human_labels=annotation_human_list(project=run.project).count()
    )
    try:
        # Imported here: the web process never loads torch; an import error fails the run.
        from learning.pipeline import round_run

        with heartbeat(run_id=run_id):
            result = round_run(run=run)
    except SoftTimeLimitExceeded:
        training_run_finish(run_id=run_id, state=TrainingRun.State.FAILED, error="Time limit")
        return RunOutcome.FAILED
    except Exception as error:
        logger.exception("Training run %s failed", run_id)
        training_run_finish(
            run_id=run_id,
            state=TrainingRun.State.FAILED,
            error=f"{type(error).__name__}: {error}",
        )
        return RunOutcome.FAILED
    training_run_finish(
        run_id=run_id,
        state=TrainingRun.State.SUCCEEDED,
        timings={name: round(seconds, 3) for name, seconds in result.timings.items()},
    )
    return RunOutcome.DONE


def label_issue_resolve(
    *, issue_id: int, user: AbstractBaseUser, action: str, node=None
) -> LabelIssue:
    """Keep the flagged label, or correct it with a new answer by the reviewer."""
    from annotator.services import InvalidInput, StaleLease  # annotator.services imports us

    with transaction.atomic():
        issue = LabelIssue.objects.select_for_update().select_related("annotation").get(pk=issue_id)
        if issue.state != LabelIssue.State.OPEN:
            raise StaleLease(f"This issue was already resolved ({issue.state}).")
        if action == "keep":
            issue.state = LabelIssue.State.KEPT
        elif action == "correct":
            taxonomy = taxonomy_current(project=issue.project)
            chosen = node is not None and taxonomy_node_resolve(taxonomy=taxonomy, node=node)
            if not chosen:
                raise InvalidInput(f"{node!r} is not a node of this project's taxonomy.")
            issue.resolution = Annotation.objects.create(
                project=issue.project,
                item=issue.annotation.item,
                annotator=user,
                node=chosen,
                source=Annotation.Source.CORRECTED,
            )
            issue.state = LabelIssue.State.CORRECTED
        else:
            raise InvalidInput("action must be 'keep' or 'correct'.")
        issue.resolved_by = user
        issue.resolved_at = timezone.now()
        issue.save()
    return issue


def auto_labels_revoke(*, project: Project, actor: AbstractBaseUser, model_version=None) -> int:
    """Take back auto-accepted labels (of one model version, or all): items return to
    the queue. Returns how many were revoked."""
    with transaction.atomic():
        labels = Annotation.objects.filter(project=project, source=Annotation.Source.AUTO)
        if model_version is not None:
            labels = labels.filter(model_version__version=model_version)
        item_ids = list(labels.values_list("item_id", flat=True))
        revoked, _ = labels.delete()
        still_answered = Annotation.objects.filter(item_id__in=item_ids).values("item_id")
        Item.objects.filter(pk__in=item_ids).exclude(pk__in=still_answered).update(
            state=Item.State.UNLABELED
        )
        audit_record(
            actor=actor,
            project=project,
            action=AuditEvent.Action.AUTOLABEL_REVOKE,
            before={"auto_labels": revoked, "model_version": model_version},
            after=None,
        )
    return revoked
