"""Resumable uploads: the core of the tus protocol (1.0.0) with its creation, expiration
and termination extensions, for the zips that imports read.

Why our own: the Django tus servers on PyPI do not fit. drf-tus writes every upload to a
temporary file on the web server's own disk (a second web server or a restart loses it),
has no owner or project on an upload, and pins django-fsm 2.8.1 and jsonfield, both
retired; django-tus keeps its state in the cache and its files on local disk, with no
release since 2020. The core protocol is three requests (POST creates, HEAD tells the
offset, PATCH appends at that offset), and the client side is tus-js-client.

Each PATCH's bytes are one part in the default storage (local disk, or S3 through
django-storages): object stores cannot append, and a part is written whole or not at
all, so an interrupted PATCH leaves the offset where it was and the client resumes from
there. The last part joins the parts into one zip and starts an import job.
"""

import datetime as dt
import shutil
import tempfile
from typing import BinaryIO

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.core.files import File
from django.core.files.storage import default_storage
from django.db import transaction
from django.utils import timezone

from annotator.exceptions import InvalidInput, UploadConflict, UploadTooLarge
from annotator.imports.job import import_job_start
from annotator.imports.models import ImportJob, Upload
from annotator.models import Project

TUS_VERSION = "1.0.0"
TUS_EXTENSIONS = "creation,expiration,termination"
# One PATCH is read into a temporary file before it is stored; tus-js-client sends parts
# of the chunkSize the page sets (8 MiB).
MAX_PART_BYTES = 64 * 1024**2
_PARTS_FOLDER = "imports/uploads"
_COPY_BYTES = 1024**2


def upload_expires_at(upload: Upload) -> dt.datetime:
    return upload.updated_at + dt.timedelta(hours=settings.ARBOR_UPLOAD_EXPIRE_HOURS)


def upload_create(
    *, project: Project, user: AbstractBaseUser, length: int, name: str, labels: str
) -> Upload:
    """Start an upload of ``length`` bytes; ``labels`` is "" or an ImportJob.LabelsAs."""
    limit = settings.ARBOR_MAX_UPLOAD_BYTES
    if length > limit:
        raise UploadTooLarge(f"The upload is larger than the limit of {limit:,} bytes.")
    if length <= 0:
        raise InvalidInput("Upload-Length must be a positive number of bytes.")
    if labels not in ("", *ImportJob.LabelsAs.values):
        raise InvalidInput(f"labels must be empty, {' or '.join(ImportJob.LabelsAs.values)}.")
    return Upload.objects.create(
        project=project, created_by=user, length=length, name=name[-255:], labels=labels
    )


def _parts_delete(upload: Upload) -> None:
    for name in upload.parts:
        default_storage.delete(name)


def upload_delete(*, upload: Upload) -> None:
    """tus termination, and the end of an upload that failed or expired."""
    _parts_delete(upload)
    upload.delete()


def upload_append(*, upload: Upload, offset: int, part: BinaryIO, size: int) -> Upload:
    """Store ``size`` bytes that start at ``offset``; the last part starts the import.

    The caller reads the request body into ``part`` first, so that no row stays locked
    while the client sends. A part that does not start at the upload's offset is a
    conflict (tus: 409), and the client asks the offset again.
    """
    with transaction.atomic():
        locked = Upload.objects.select_for_update().get(pk=upload.pk)
        if locked.import_job_id is not None or locked.offset != offset:
            raise UploadConflict(f"The upload stands at byte {locked.offset:,}, not {offset:,}.")
        if offset + size > locked.length:
            raise InvalidInput(f"The part ends past the upload's length of {locked.length:,}.")
        if size:
            name = f"{_PARTS_FOLDER}/{locked.pk.hex}-{offset:015d}.part"
            locked.parts.append(default_storage.save(name, File(part)))
            locked.offset += size
            locked.save(update_fields=["parts", "offset", "updated_at"])
    if locked.offset == locked.length:
        return _upload_complete(locked)
    return locked


def _upload_complete(upload: Upload) -> Upload:
    """Join the parts into one zip and queue its import. An upload that is no zip is
    deleted, and the error says why."""
    try:
        with transaction.atomic():
            locked = (
                Upload.objects.select_for_update(of=("self",))
                .select_related("project", "created_by")
                .get(pk=upload.pk)
            )
            if locked.import_job_id is not None:
                return locked  # a concurrent request finished it
            with tempfile.TemporaryFile() as joined:
                for name in locked.parts:
                    with default_storage.open(name, "rb") as stored:
                        shutil.copyfileobj(stored, joined, _COPY_BYTES)
                joined.seek(0)
                job = import_job_start(
                    project=locked.project,
                    user=locked.created_by,
                    upload=File(joined, name=locked.name or "upload.zip"),
                    with_labels=bool(locked.labels),
                    labels_as=locked.labels or ImportJob.LabelsAs.GOLD,
                    name=locked.name,
                )
            _parts_delete(locked)
            locked.parts, locked.import_job = [], job
            locked.save(update_fields=["parts", "import_job", "updated_at"])
    except InvalidInput:
        upload_delete(upload=upload)
        raise
    return locked


def uploads_expire() -> list[str]:
    """Delete the uploads that received nothing for ``ARBOR_UPLOAD_EXPIRE_HOURS``, with
    their parts; run by the periodic recovery."""
    before = timezone.now() - dt.timedelta(hours=settings.ARBOR_UPLOAD_EXPIRE_HOURS)
    expired = []
    for upload in Upload.objects.filter(updated_at__lt=before):
        expired.append(str(upload.pk))
        upload_delete(upload=upload)
    return expired
