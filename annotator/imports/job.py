"""An import run: images stored in batches, a report of the bad files, the worker's queue."""

import datetime as dt
import hashlib
import logging
import uuid
import zipfile
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path, PurePosixPath

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.core.files.uploadedfile import UploadedFile
from django.db import transaction
from django.utils import timezone

from annotator.exceptions import ImportRejected
from annotator.imports.archive import Entry, StoredZip, entries_open
from annotator.imports.images import image_inspect
from annotator.items import STATISTICS_AFTER_ITEMS, items_state_recompute, items_statistics_refresh
from annotator.jobs import Outcome, job_claim, job_heartbeat, job_held, job_send, jobs_recover
from annotator.models import Annotation, ImportJob, Item, Project, Taxonomy, TaxonomyNode
from annotator.selectors import taxonomy_current
from annotator.signals import answers_committed, images_imported

logger = logging.getLogger(__name__)

# Image import limits.
MAX_IMPORT_FILES = 200_000
MAX_REPORTED_ERRORS = 1_000
BATCH_SIZE = 200
BATCH_BYTES = 64 * 1024**2
TOP_LEVEL_FOLDER = "."


class _LeafMatcher:
    """The ground-truth leaf for a file's folders: the folders ending in a leaf's full
    path (``animal/cat``), or else the parent folder named like exactly one leaf."""

    def __init__(self, taxonomy: Taxonomy | None) -> None:
        leaves = list(taxonomy.nodes.filter(is_leaf=True)) if taxonomy else []
        self._by_path = {leaf.path: leaf for leaf in leaves}
        name_counts = Counter(leaf.name for leaf in leaves)
        self._by_name = {leaf.name: leaf for leaf in leaves if name_counts[leaf.name] == 1}
        self._depths = sorted({leaf.depth for leaf in leaves}, reverse=True)

    def leaf_for(self, folders: tuple[str, ...]) -> TaxonomyNode | None:
        for depth in self._depths:
            if len(folders) >= depth and (leaf := self._by_path.get("/".join(folders[-depth:]))):
                return leaf
        return self._by_name.get(folders[-1]) if folders else None


@dataclass(frozen=True)
class _Accepted:
    name: str
    data: bytes
    content_hash: str
    format: str
    width: int
    height: int
    ground_truth: TaxonomyNode | None


def _hashes_present(*, project: Project, hashes: list[str]) -> set[str]:
    return set(
        Item.objects.filter(project=project, content_hash__in=hashes).values_list(
            "content_hash", flat=True
        )
    )


class _ImportRun:
    """The state of one import: files accepted but not yet stored, and the report."""

    def __init__(
        self,
        *,
        job: ImportJob,
        with_labels: bool,
        progress: Callable[[int, int], None] | None,
    ) -> None:
        self.job = job
        self.project = job.project
        self.progress = progress
        self.matcher = _LeafMatcher(taxonomy_current(project=self.project)) if with_labels else None
        self.as_human = with_labels and job.labels_as == ImportJob.LabelsAs.HUMAN
        self.seen_hashes: set[str] = set()
        self.pending: list[_Accepted] = []
        self.pending_bytes = 0
        self.unmatched_folders = Counter[str]()
        self.unreported_errors = 0

    def add(self, entry: Entry) -> None:
        self.job.processed += 1
        try:
            data = entry.read()
            image_format, width, height = image_inspect(data)
        except ImportRejected as exc:
            self.error(entry.name, str(exc))
            return
        content_hash = hashlib.sha256(data).hexdigest()
        if content_hash in self.seen_hashes:
            self.job.duplicates += 1
            return
        self.seen_hashes.add(content_hash)
        ground_truth = None
        if self.matcher:
            ground_truth = self.matcher.leaf_for(entry.folders)
            if ground_truth is None:
                self.unmatched_folders["/".join(entry.folders) or TOP_LEVEL_FOLDER] += 1
        self.pending.append(
            _Accepted(entry.name, data, content_hash, image_format, width, height, ground_truth)
        )
        self.pending_bytes += len(data)

    def error(self, name: str, message: str) -> None:
        if len(self.job.errors) < MAX_REPORTED_ERRORS:
            self.job.errors.append({"file": name, "error": message})
        else:
            self.unreported_errors += 1

    def _item_store(self, accepted: _Accepted) -> Item:
        item = Item(
            project=self.project,
            original_name=accepted.name[-500:],
            content_hash=accepted.content_hash,
            format=accepted.format,
            width=accepted.width,
            height=accepted.height,
            ground_truth=accepted.ground_truth,
        )
        # Files first, rows second: a crash in between leaves an unused file, never a
        # row without its image. The field's upload_to generates the stored name.
        item.image.save(accepted.name, ContentFile(accepted.data), save=False)
        return item

    def flush(self) -> None:
        """Store the pending images and publish the progress."""
        if self.pending:
            hashes = [accepted.content_hash for accepted in self.pending]
            present = _hashes_present(project=self.project, hashes=hashes)
            items = [
                self._item_store(accepted)
                for accepted in self.pending
                if accepted.content_hash not in present
            ]
            self.job.duplicates += len(self.pending) - len(items)
            # A concurrent import may have stored the same image since the check above:
            # the unique constraint keeps one row, and the loser's file is removed.
            Item.objects.bulk_create(items, ignore_conflicts=True)
            stored_names = set(
                Item.objects.filter(project=self.project, content_hash__in=hashes).values_list(
                    "image", flat=True
                )
            )
            for item in items:
                if item.image.name in stored_names:
                    self.job.imported += 1
                else:
                    item.image.delete(save=False)
                    self.job.duplicates += 1
            if self.as_human:
                self._human_answers_store([item.image.name for item in items if item.ground_truth])
            self.pending.clear()
            self.pending_bytes = 0
        self.job.unmatched_folders = [
            {"folder": folder, "files": files}
            for folder, files in sorted(self.unmatched_folders.items())
        ]
        self.job.save(
            update_fields=["processed", "imported", "duplicates", "errors", "unmatched_folders"]
        )
        if self.progress:
            self.progress(self.job.processed, self.job.total)

    def _human_answers_store(self, image_names: list[str]) -> None:
        """Folder labels as the importing person's answers, not as gold: the items are
        labeled like any answered item (and leave the queue), and the loop hears of it."""
        items = Item.objects.filter(project=self.project, image__in=image_names)
        pairs = list(items.exclude(ground_truth=None).values_list("pk", "ground_truth_id"))
        Annotation.objects.bulk_create(
            Annotation(
                project=self.project,
                item_id=item_id,
                node_id=node_id,
                annotator=self.job.created_by,
                source=Annotation.Source.MANUAL,
            )
            for item_id, node_id in pairs
        )
        items.update(ground_truth=None)
        items_state_recompute(item_ids=[item_id for item_id, _ in pairs])
        if pairs:
            transaction.on_commit(
                partial(answers_committed.send, sender=Annotation, project_id=self.project.pk)
            )

    def finish(self) -> None:
        if self.unreported_errors:
            self.job.errors.append(
                {"file": "", "error": f"{self.unreported_errors:,} more files were skipped."}
            )
        self.flush()


def _job_finish(job: ImportJob, *, state: str, error: str = "") -> None:
    # Fenced on the claim: a worker whose import was taken over writes no final state.
    job.state, job.error, job.finished_at = state, error, timezone.now()
    ImportJob.objects.filter(pk=job.pk, claim=job.claim, state__in=ImportJob.ACTIVE_STATES).update(
        state=state, error=error, finished_at=job.finished_at
    )


def images_import(
    *,
    project: Project,
    source: Path | StoredZip,
    with_labels: bool = False,
    job: ImportJob | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> ImportJob:
    """Import the JPEG, PNG and WebP images of a folder (ImageFolder layout) or a zip on
    this machine, or of a stored zip (an upload).

    Bad files are reported in ``job.errors`` and skipped; an image already in the project
    (same SHA-256) counts as a duplicate. With labels, a folder named like a leaf of the
    current taxonomy (or mirroring its path) gives its files that leaf as ground truth;
    the other folders are listed in ``job.unmatched_folders``. The job records the
    progress as it goes and ends succeeded, or failed with ``ImportRejected`` raised.
    """
    if job is None:
        job = ImportJob.objects.create(
            project=project,
            source=str(source),
            with_labels=with_labels,
            state=ImportJob.State.RUNNING,
        )
    try:
        with entries_open(source, max_files=MAX_IMPORT_FILES) as entries:
            if len(entries) > MAX_IMPORT_FILES:
                raise ImportRejected(
                    f"{len(entries):,} files: import at most {MAX_IMPORT_FILES:,} at a time."
                )
            job.total = len(entries)
            job.save(update_fields=["total"])
            run = _ImportRun(job=job, with_labels=with_labels, progress=progress)
            for number, entry in enumerate(entries, start=1):
                run.add(entry)
                if number % BATCH_SIZE == 0 or run.pending_bytes >= BATCH_BYTES:
                    run.flush()
            run.finish()
    except ImportRejected as exc:
        _job_finish(job, state=ImportJob.State.FAILED, error=str(exc))
        raise
    except Exception as exc:
        # The details (paths, SQL) go to the log with the traceback, not to the user.
        error = f"The import stopped on an unexpected {type(exc).__name__}; see the log."
        _job_finish(job, state=ImportJob.State.FAILED, error=error)
        raise
    _job_finish(job, state=ImportJob.State.SUCCEEDED)
    if job.imported >= STATISTICS_AFTER_ITEMS:
        items_statistics_refresh()
    if job.imported:
        transaction.on_commit(
            partial(images_imported.send, sender=ImportJob, project_id=project.pk)
        )
    return job


# --- Uploads run by the worker --------------------------------------------------------


# Uploaded zips wait in the storage, in this folder, for a worker that may run on another
# machine. A job's source is the name of such a stored zip, or the absolute path of a
# folder or zip on the server (given to a command), which is read in place and kept.
UPLOADS_FOLDER = "imports"


def _job_source(source: str) -> Path | StoredZip:
    if PurePosixPath(source).parent == PurePosixPath(UPLOADS_FOLDER):
        return StoredZip(default_storage, source)
    return Path(source)


def _upload_delete(source: str) -> None:
    # Only stored uploads are ours to delete, never a folder given to the command.
    if isinstance(stored := _job_source(source), StoredZip):
        stored.storage.delete(stored.name)


def _job_enqueue(job_id: int) -> None:
    from annotator.tasks import import_run  # the tasks module imports this one

    job_send(ImportJob(pk=job_id), lambda: import_run.delay(job_id))


def import_job_start(
    *,
    project: Project,
    user: AbstractBaseUser,
    upload: UploadedFile,
    with_labels: bool,
    labels_as: str = ImportJob.LabelsAs.GOLD,
    name: str = "",
) -> ImportJob:
    """Store an uploaded zip of images and queue its import for the worker."""
    limit = settings.ARBOR_MAX_UPLOAD_BYTES
    if upload.size is None or upload.size > limit:
        raise ImportRejected(f"The upload is larger than the limit of {limit:,} bytes.")
    if not zipfile.is_zipfile(upload):
        raise ImportRejected("Upload a .zip file of images (its content is checked, not its name).")
    stored = StoredZip(
        default_storage, default_storage.save(f"{UPLOADS_FOLDER}/{uuid.uuid4().hex}.zip", upload)
    )
    return import_job_enqueue(
        project=project,
        user=user,
        source=stored,
        with_labels=with_labels,
        labels_as=labels_as,
        name=name or upload.name or "",
    )


def import_job_enqueue(
    *,
    project: Project,
    user: AbstractBaseUser | None,
    source: Path | StoredZip,
    with_labels: bool,
    labels_as: str = ImportJob.LabelsAs.GOLD,
    name: str = "",
) -> ImportJob:
    """Queue the import of a folder or zip on the server, or of a stored zip (deleted once
    imported); the worker runs it after commit."""
    if isinstance(source, Path):
        source = source.resolve()  # the worker may run in another folder
    job = ImportJob.objects.create(
        project=project,
        created_by=user,
        source=str(source),
        name=(name or PurePosixPath(str(source)).name)[-255:],
        with_labels=with_labels,
        labels_as=labels_as,
    )
    transaction.on_commit(partial(_job_enqueue, job.pk))
    return job


# An import whose worker stopped beating for this long is taken over; what a takeover
# starts over.
STALE_AFTER = dt.timedelta(seconds=settings.ARBOR_IMPORT_STALE_SECONDS)
HEARTBEAT_SECONDS = settings.ARBOR_IMPORT_HEARTBEAT_SECONDS
_PROGRESS_RESET = {
    "total": 0,
    "processed": 0,
    "imported": 0,
    "duplicates": 0,
    "errors": [],
    "unmatched_folders": [],
}


def imports_recover() -> list[int]:
    """Send again the imports whose message or worker was lost; an import out of
    attempts is failed, and its stored upload deleted."""
    return jobs_recover(
        ImportJob,
        stale_after=STALE_AFTER,
        enqueue=_job_enqueue,
        on_give_up=lambda job: _upload_delete(job.source),
    )


def import_job_run(*, job_id: int) -> Outcome:
    """Run a queued import once, through the job runner.

    A redelivered task finds the job claimed (BUSY) or finished (SKIPPED). A takeover
    after a dead worker starts the import over: the images stored before count as
    duplicates, so none is stored twice.
    """
    claim = job_claim(ImportJob, pk=job_id, stale_after=STALE_AFTER, **_PROGRESS_RESET)
    if claim is None:
        if not job_held(ImportJob, pk=job_id):
            job = ImportJob.objects.filter(pk=job_id, state=ImportJob.State.FAILED).first()
            if job is not None:  # given up: its upload goes
                _upload_delete(job.source)
            return Outcome.SKIPPED
        return Outcome.BUSY
    job = ImportJob.objects.select_related("project").get(pk=job_id)
    source = _job_source(job.source)
    try:
        with job_heartbeat(claim, every=HEARTBEAT_SECONDS):
            images_import(project=job.project, source=source, with_labels=job.with_labels, job=job)
    except ImportRejected:
        return Outcome.FAILED  # recorded in the job for the user to read
    finally:
        _upload_delete(job.source)
    return Outcome.DONE
