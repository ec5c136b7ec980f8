"""Celery tasks: thin wrappers that load by id and call a service."""

from celery import shared_task
from django.conf import settings

from annotator.jobs import Outcome
from annotator.models import Project
from learning import embeddings, pretraining, services


@shared_task(bind=True, max_retries=None)
def training_run(self, run_id: int) -> str:
    """Train, score, select. Routed to the `training` queue (a GPU worker can take it)."""
    outcome = services.training_run_execute(run_id=run_id)
    if outcome == Outcome.BUSY:
        # Redelivered while the run still beats: its worker may be alive. Look again
        # once a dead worker's heartbeat would have gone stale.
        raise self.retry(countdown=settings.ARBOR_TRAINING_STALE_SECONDS)
    return outcome


@shared_task(bind=True, max_retries=None)
def pretrain(self, run_id: int) -> str:
    """Self-supervised pretraining of a project's backbone; on the `training` queue."""
    outcome = pretraining.pretrain_run_execute(run_id=run_id)
    if outcome == Outcome.BUSY:  # as for training runs
        raise self.retry(countdown=settings.ARBOR_TRAINING_STALE_SECONDS)
    return outcome


@shared_task
def training_periodic() -> int:
    """Recover runs whose worker died, then retrain projects with new answers."""
    services.training_runs_recover()
    pretraining.pretrain_runs_recover()
    return services.training_periodic()


@shared_task
def embeddings_compute(project_id: int) -> int:
    """Embed a project's items that have none yet. Routed to the `embed` queue.

    Idempotent: a redelivered message (its worker killed mid-way) embeds what the
    first one had not stored, so no job record is needed.
    """
    project = Project.objects.filter(pk=project_id).first()
    if project is None:
        return 0
    done = embeddings.embeddings_compute(project=project)
    # Imported here: the web process, which queues this task, never loads torch.
    from learning.cold_start import cold_start_prioritize
    from learning.zeroshot_round import zeroshot_round_run

    # A CLIP project with no model yet gets its first predictions from the class names;
    # any other gets TypiClust's typical points first in its queue.
    zeroshot_round_run(project=project)
    cold_start_prioritize(project=project)
    return done
