"""Writes of the learning side: training runs and what they leave behind."""

import datetime as dt

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.db import IntegrityError, transaction
from django.utils import timezone

from annotator.audit import audit_record
from annotator.exceptions import InvalidInput, StaleLease
from annotator.items import items_state_recompute
from annotator.jobs import Outcome, job_body_run, job_claim, job_held, job_send, jobs_recover
from annotator.models import Annotation, AuditEvent, Project
from annotator.selectors import (
    annotation_human_list,
    taxonomy_current,
    taxonomy_node_resolve,
)
from learning.models import LabelIssue, TrainingRun


def _enqueue_run(run_id: int) -> None:
    from learning.tasks import training_run  # the tasks module imports this one

    job_send(TrainingRun(pk=run_id), lambda: training_run.delay(run_id))


def training_run_request(
    *, project: Project, trigger: str, requested_by: AbstractBaseUser | None = None
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
                human_labels=annotation_human_list(project=project).count(),
            )
    except IntegrityError:
        active = TrainingRun.objects.filter(
            project=project, state__in=TrainingRun.ACTIVE_STATES
        ).first()
        if active is None:  # it finished in between: try once more
            return training_run_request(project=project, trigger=trigger, requested_by=requested_by)
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


def training_on_answers(*, project_id: int, **_signal) -> None:
    """After answers commit (``annotator.signals.answers_committed``): queue a retrain
    when the project is due one and automatic retraining is on."""
    if not settings.ARBOR_AUTO_RETRAIN:
        return
    project = Project.objects.get(pk=project_id)
    # One run at a time: while one is queued or running, answers need not count anything.
    if project.training_runs.filter(state__in=TrainingRun.ACTIVE_STATES).exists():
        return
    if training_due(project=project):
        training_run_request(project=project, trigger=TrainingRun.Trigger.ANNOTATIONS)


def training_periodic() -> int:
    """Queue a retrain for every project with new human answers; how many were queued."""
    queued = 0
    for project in Project.objects.all():
        if annotation_human_list(project=project).count() > _labels_at_last_run(project):
            queued += training_run_request(project=project, trigger=TrainingRun.Trigger.PERIODIC)[1]
    return queued


def _stale_after() -> dt.timedelta:
    return dt.timedelta(seconds=settings.ARBOR_TRAINING_STALE_SECONDS)


def training_runs_recover() -> list[int]:
    """Send again the runs whose message or worker was lost (see ``jobs_recover``)."""
    return jobs_recover(TrainingRun, stale_after=_stale_after(), enqueue=_enqueue_run)


def training_run_execute(*, run_id: int) -> Outcome:
    """Run a training run once, through the job runner.

    A redelivered message (its first worker died) finds the run still claimed: BUSY
    until the heartbeat is stale, then it takes the run over. A run that succeeded or
    failed is left alone, so redelivery never writes a second version.
    """
    claim = job_claim(TrainingRun, pk=run_id, stale_after=_stale_after())
    if claim is None:
        return Outcome.BUSY if job_held(TrainingRun, pk=run_id) else Outcome.SKIPPED
    run = TrainingRun.objects.select_related("project").get(pk=run_id)
    TrainingRun.objects.filter(pk=run_id).update(
        human_labels=annotation_human_list(project=run.project).count()
    )

    def body():
        # Imported here: the web process never loads torch; an import error fails the run.
        from learning.pipeline import round_run

        return round_run(run=run)

    ran, result = job_body_run(claim, body, every=settings.ARBOR_TRAINING_HEARTBEAT_SECONDS)
    if not ran:
        return Outcome.FAILED
    claim.finish(
        state=TrainingRun.State.SUCCEEDED,
        timings={name: round(seconds, 3) for name, seconds in result.timings.items()},
    )
    return Outcome.DONE


def label_issue_resolve(
    *, issue_id: int, user: AbstractBaseUser, action: str, node=None
) -> LabelIssue:
    """Keep the flagged label, or correct it with a new answer by the reviewer."""

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
        items_state_recompute(item_ids=item_ids)
        audit_record(
            actor=actor,
            project=project,
            action=AuditEvent.Action.AUTOLABEL_REVOKE,
            before={"auto_labels": revoked, "model_version": model_version},
            after=None,
        )
    return revoked
