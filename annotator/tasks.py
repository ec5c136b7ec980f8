"""Celery tasks: thin wrappers that load by id and call a service."""

from celery import shared_task

from annotator.exports import job as export_job
from annotator.imports.job import import_job_run, imports_recover
from annotator.imports.uploads import uploads_expire
from annotator.jobs import Outcome


@shared_task(bind=True, max_retries=3)
def import_run(self, job_id: int) -> None:
    if import_job_run(job_id=job_id) == Outcome.BUSY:
        raise self.retry(countdown=60)


@shared_task(bind=True, max_retries=3)
def export_run(self, export_id: int) -> None:
    # Another worker holds a live claim (a redelivery while it runs): look again once
    # that claim would have gone stale, in case its worker died.
    if export_job.export_run(export_id=export_id) == Outcome.BUSY:
        raise self.retry(countdown=export_job.STALE_AFTER.total_seconds())


@shared_task
def jobs_recover() -> dict[str, list]:
    """Send again the imports and exports whose message or worker was lost; delete the
    resumable uploads nobody finished."""
    return {
        "imports": imports_recover(),
        "exports": export_job.exports_recover(),
        "uploads": uploads_expire(),
    }
