"""Writing an export file, and running exports in the worker."""

import datetime as dt
import logging
import os
import tempfile
import uuid
from collections.abc import Mapping
from dataclasses import asdict
from functools import partial
from pathlib import Path
from typing import Any

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.core.files import File
from django.db import transaction

from annotator.exports.coco_writer import coco_write
from annotator.exports.csv_writer import csv_write
from annotator.exports.imagefolder_writer import imagefolder_write
from annotator.exports.json_writer import json_write
from annotator.exports.options import (
    ExportSpec,
    export_options_clean,
    export_spec_build,
    export_spec_for,
)
from annotator.exports.records import ExportCounts, ProgressCallback, export_records
from annotator.jobs import Outcome, job_claim, job_held, job_send, jobs_recover
from annotator.models import Export, Project

logger = logging.getLogger(__name__)

# A running export whose progress has not moved for this long lost its worker.
STALE_AFTER = dt.timedelta(seconds=settings.ARBOR_EXPORT_STALE_SECONDS)

FILE_EXTENSIONS = {
    Export.Format.CSV: "csv",
    Export.Format.JSON: "json",
    Export.Format.COCO: "coco.json",
    Export.Format.IMAGEFOLDER: "zip",
}
CONTENT_TYPES = {
    Export.Format.CSV: "text/csv",
    Export.Format.JSON: "application/json",
    Export.Format.COCO: "application/json",
    Export.Format.IMAGEFOLDER: "application/zip",
}
WRITERS = {
    Export.Format.CSV: csv_write,
    Export.Format.JSON: json_write,
    Export.Format.COCO: coco_write,
    Export.Format.IMAGEFOLDER: imagefolder_write,
}


def export_write(
    *, spec: ExportSpec, destination: Path, progress: ProgressCallback | None = None
) -> ExportCounts:
    """Write the export to ``destination``, which appears only once it is complete."""
    destination.parent.mkdir(parents=True, exist_ok=True)
    descriptor, partial_name = tempfile.mkstemp(
        dir=destination.parent, prefix=".export-", suffix=".part"
    )
    os.close(descriptor)
    partial_path = Path(partial_name)
    counts = ExportCounts()
    try:
        WRITERS[spec.format](spec, export_records(spec, counts, progress), partial_path, counts)
        os.replace(partial_path, destination)
    finally:
        partial_path.unlink(missing_ok=True)
    return counts


# --- Running exports in the worker ----------------------------------------------------


def export_start(
    *, project: Project, user: AbstractBaseUser, format: str, options: Mapping[str, Any] | None
) -> Export:
    """Record an export of the project as it is now and queue it for the worker."""
    cleaned = export_options_clean(format=format, options=options)
    spec = export_spec_build(project=project, format=format, options=cleaned)
    export = Export.objects.create(
        project=project,
        created_by=user,
        format=format,
        options=asdict(cleaned),
        taxonomy=spec.taxonomy,
        model_version=spec.model_version,
    )
    transaction.on_commit(partial(_export_enqueue, export.pk))
    return export


def _export_enqueue(export_id: int) -> None:
    from annotator.tasks import export_run as export_run_task  # tasks import this module

    # Exports are ordinary work: named explicitly so that routing the training tasks
    # elsewhere never takes exports with them.
    job_send(
        Export(pk=export_id),
        lambda: export_run_task.apply_async((export_id,), queue=settings.CELERY_TASK_DEFAULT_QUEUE),
    )


def exports_recover() -> list[int]:
    """Send again the exports whose message or worker was lost."""
    return jobs_recover(Export, stale_after=STALE_AFTER, enqueue=_export_enqueue)


def _export_store(*, export: Export, progress: ProgressCallback) -> tuple[int, ExportCounts]:
    """Write the export to a local temporary file, then put it in the export's storage
    (a bucket, perhaps), where ``export.file`` names it; its size and counts."""
    with tempfile.TemporaryDirectory(prefix="arbor-export-") as folder:
        local = Path(folder) / "export"
        counts = export_write(spec=export_spec_for(export), destination=local, progress=progress)
        with local.open("rb") as stream:
            name = f"{uuid.uuid4().hex}.{FILE_EXTENSIONS[export.format]}"
            export.file.save(name, File(stream), save=False)
        return local.stat().st_size, counts


def export_run(*, export_id: int) -> Outcome:
    """Run a queued export once, through the job runner.

    A redelivered task does not run it twice, and a running export whose progress
    stopped moving (its worker died) is taken over; BUSY while another worker holds it.
    """
    claim = job_claim(Export, pk=export_id, stale_after=STALE_AFTER, processed=0)
    if claim is None:
        return Outcome.BUSY if job_held(Export, pk=export_id) else Outcome.SKIPPED
    export = Export.objects.select_related("project", "taxonomy", "model_version").get(pk=export_id)
    try:
        size, counts = _export_store(
            export=export,
            progress=lambda counts: claim.beat(total=counts.total, processed=counts.processed),
        )
    except Exception as exc:
        # The details (paths, SQL) go to the log with the traceback, not to the user.
        logger.exception("Export %s failed", export_id)
        claim.finish(
            state=Export.State.FAILED,
            error=f"The export stopped on an unexpected {type(exc).__name__}; see the log.",
        )
        return Outcome.FAILED
    written = claim.finish(
        state=Export.State.SUCCEEDED,
        file=export.file.name,
        size=size,
        total=counts.total,
        processed=counts.processed,
        exported=counts.exported,
        left_out=dict(counts.left_out),
    )
    if not written:  # another worker took the export over: its file is the one kept
        export.file.delete(save=False)
    return Outcome.DONE


def export_download_name(export: Export) -> str:
    return f"arbor-project-{export.project_id}-export-{export.pk}.{FILE_EXTENSIONS[export.format]}"
