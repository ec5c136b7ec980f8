"""The learning side's own records: training runs and the label issues they flag.

Model versions and predictions are annotator models: the queue reads them, and the
learning app writes them.
"""

from django.conf import settings
from django.db import models
from django.db.models import Q

from annotator.jobs import Job


class TrainingRun(Job):
    """One retrain of a project's model: train, score the pool, select, write priorities."""

    class Trigger(models.TextChoices):
        ANNOTATIONS = "annotations"
        MANUAL = "manual"
        PERIODIC = "periodic"

    project = models.ForeignKey(
        "annotator.Project", on_delete=models.CASCADE, related_name="training_runs"
    )
    trigger = models.CharField(max_length=20, choices=Trigger.choices)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    # One version per run: a redelivered task finds it and writes no second one.
    model_version = models.OneToOneField(
        "annotator.ModelVersion",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="training_run",
    )
    human_labels = models.PositiveIntegerField(default=0, help_text="Labels it trained on")
    timings = models.JSONField(default=dict, blank=True)

    class Meta(Job.Meta):
        constraints = [
            # A burst of triggers queues one run: the database refuses a second.
            models.UniqueConstraint(
                fields=["project"],
                condition=Q(state__in=["queued", "running"]),
                name="training_one_active_run_per_project",
            )
        ]

    def __str__(self) -> str:
        return f"training run {self.pk} of project {self.project_id} ({self.state})"


class LabelIssue(models.Model):
    """A human label that confident learning flags as likely wrong, for a lead to review."""

    class State(models.TextChoices):
        OPEN = "open"
        KEPT = "kept"
        CORRECTED = "corrected"

    project = models.ForeignKey(
        "annotator.Project", on_delete=models.CASCADE, related_name="label_issues"
    )
    annotation = models.ForeignKey(
        "annotator.Annotation", on_delete=models.CASCADE, related_name="label_issues"
    )
    model_version = models.ForeignKey(
        "annotator.ModelVersion", on_delete=models.CASCADE, related_name="+"
    )
    suggested_node = models.ForeignKey(
        "annotator.TaxonomyNode", on_delete=models.CASCADE, related_name="+"
    )
    label_quality = models.FloatField(help_text="cleanlab's self-confidence of the given label")
    state = models.CharField(max_length=20, choices=State.choices, default=State.OPEN)
    resolved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    resolution = models.ForeignKey(
        "annotator.Annotation", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    resolved_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["label_quality"]
        constraints = [
            models.UniqueConstraint(
                fields=["annotation"], condition=Q(state="open"), name="label_issue_one_open"
            )
        ]

    def __str__(self) -> str:
        return f"label issue on annotation {self.annotation_id} ({self.state})"
