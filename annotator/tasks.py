"""Celery tasks: thin wrappers that load by id and call a service."""

from celery import shared_task

from annotator import exports
from annotator.imports import import_job_run


@shared_task
def import_run(job_id: int) -> None:
    import_job_run(job_id=job_id)


@shared_task(bind=True, max_retries=3)
def export_run(self, export_id: int) -> None:
    # Another worker holds a live claim (a redelivery while it runs): look again once
    # that claim would have gone stale, in case its worker died.
    if not exports.export_run(export_id=export_id):
        raise self.retry(countdown=exports.STALE_AFTER.total_seconds())
