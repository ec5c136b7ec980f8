"""The rows of imports: the import jobs (history and report) and the resumable uploads
that feed them. ``annotator.models`` re-exports both: they are the app's models."""

import uuid

from django.conf import settings
from django.db import models

from annotator.jobs import Job


class ImportJob(Job):
    """An import, run by the worker for uploads, with its progress and report."""

    class Kind(models.TextChoices):
        IMAGES = "images"
        PREDICTIONS = "predictions", "predictions of an outside model"

    class LabelsAs(models.TextChoices):
        GOLD = "gold", "gold: ground truth that measures the model, never shown"
        HUMAN = "human", "human: answers by the importing person, the items leave the queue"

    project = models.ForeignKey(
        "annotator.Project", on_delete=models.CASCADE, related_name="import_jobs"
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    kind = models.CharField(max_length=20, choices=Kind.choices, default=Kind.IMAGES)
    name = models.CharField(max_length=255, blank=True, help_text="What was imported, as named")
    source = models.CharField(max_length=1000, help_text="Folder or stored zip being imported")
    with_labels = models.BooleanField(default=False)
    labels_as = models.CharField(max_length=10, choices=LabelsAs.choices, default=LabelsAs.GOLD)
    total = models.PositiveIntegerField(default=0)
    processed = models.PositiveIntegerField(default=0)
    imported = models.PositiveIntegerField(default=0)
    duplicates = models.PositiveIntegerField(default=0)
    errors = models.JSONField(default=list, blank=True)
    unmatched_folders = models.JSONField(
        default=list,
        blank=True,
        help_text="With labels: folders that name no taxonomy leaf, as "
        "[{folder, files}]; their images have no ground truth",
    )

    def __str__(self) -> str:
        return f"import {self.pk} into project {self.project_id} ({self.state})"


class Upload(models.Model):
    """A resumable (tus) upload of a zip: its bytes arrive in parts, kept in the storage
    until the last one, when the parts become one file and an import job starts."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    project = models.ForeignKey("annotator.Project", on_delete=models.CASCADE, related_name="+")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    name = models.CharField(max_length=255, blank=True)
    length = models.BigIntegerField(help_text="Upload-Length: the whole upload, in bytes")
    offset = models.BigIntegerField(default=0, help_text="Bytes received so far")
    parts = models.JSONField(default=list, blank=True, help_text="Storage names, in order")
    # What the import does with the folders: "" (no labels), or ImportJob.LabelsAs.
    labels = models.CharField(max_length=10, blank=True)
    import_job = models.ForeignKey(
        ImportJob, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"upload {self.pk} ({self.offset} of {self.length} bytes)"
