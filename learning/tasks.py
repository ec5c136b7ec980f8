"""Celery tasks: thin wrappers that load by id and call a service."""

from celery import shared_task
from django.conf import settings

from annotator.jobs import Outcome
from learning import services


@shared_task(bind=True, max_retries=None)
def training_run(self, run_id: int) -> str:
    """Train, score, select. Routed to the `training` queue (a GPU worker can take it)."""
    outcome = services.training_run_execute(run_id=run_id)
    if outcome == Outcome.BUSY:
        # Redelivered while the run still beats: its worker may be alive. Look again
        # once a dead worker's heartbeat would have gone stale.
        raise self.retry(countdown=settings.ARBOR_TRAINING_STALE_SECONDS)
    return outcome


@shared_task
def training_periodic() -> int:
    """Recover runs whose worker died, then retrain projects with new answers."""
    services.training_runs_recover()
    return services.training_periodic()
