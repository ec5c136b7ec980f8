"""What the learning side writes and the annotation side reads."""

from django.conf import settings
from django.db import models
from django.db.models import Q


class TrainingRun(models.Model):
    """One retrain of a project's model: train, score the pool, select, write priorities."""

    class State(models.TextChoices):
        QUEUED = "queued"
        RUNNING = "running"
        SUCCEEDED = "succeeded"
        FAILED = "failed"

    class Trigger(models.TextChoices):
        ANNOTATIONS = "annotations"
        MANUAL = "manual"
        PERIODIC = "periodic"
        RETRY = "retry"

    ACTIVE_STATES = (State.QUEUED, State.RUNNING)

    project = models.ForeignKey(
        "annotator.Project", on_delete=models.CASCADE, related_name="training_runs"
    )
    state = models.CharField(max_length=20, choices=State.choices, default=State.QUEUED)
    trigger = models.CharField(max_length=20, choices=Trigger.choices)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    retry_of = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="retries"
    )
    human_labels = models.PositiveIntegerField(default=0, help_text="Labels it trained on")
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    timings = models.JSONField(default=dict, blank=True)
    error = models.TextField(blank=True)

    class Meta:
        ordering = ["-created_at"]
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


class ModelVersion(models.Model):
    project = models.ForeignKey(
        "annotator.Project", on_delete=models.CASCADE, related_name="model_versions"
    )
    taxonomy = models.ForeignKey(
        "annotator.Taxonomy", on_delete=models.PROTECT, related_name="model_versions"
    )
    # One version per run: a redelivered task finds it and writes no second one.
    training_run = models.OneToOneField(
        TrainingRun, null=True, blank=True, on_delete=models.SET_NULL, related_name="model_version"
    )
    version = models.PositiveIntegerField()
    checkpoint = models.CharField(max_length=500, blank=True)
    human_labels = models.PositiveIntegerField(default=0)
    # Accuracy per level on the shadow sample and the gold set, cascade threshold, ...
    metrics = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["project", "-version"]
        constraints = [
            models.UniqueConstraint(fields=["project", "version"], name="model_version_unique")
        ]

    def __str__(self) -> str:
        return f"model v{self.version} ({self.project})"


class Prediction(models.Model):
    """A model version's view of one item, at every level of the taxonomy."""

    class Mode(models.TextChoices):
        FULL = "full", "label the whole path"
        FINE = "fine", "coarse settled, ask below it"
        VERIFY = "verify", "confirm the prediction"

    item = models.ForeignKey("annotator.Item", on_delete=models.CASCADE, related_name="predictions")
    model_version = models.ForeignKey(
        ModelVersion, on_delete=models.CASCADE, related_name="predictions"
    )
    # Most likely node at each level, top-down: [{"node": id, "path": ..., "p": ...}, ...]
    path = models.JSONField(default=list)
    predicted_node = models.ForeignKey(
        "annotator.TaxonomyNode", on_delete=models.CASCADE, related_name="+"
    )
    confidence = models.FloatField(help_text="Probability of the whole predicted path")
    uncertainty = models.FloatField(default=0.0)
    mode = models.CharField(max_length=10, choices=Mode.choices, default=Mode.FULL)
    settled_depth = models.PositiveSmallIntegerField(
        default=0, help_text="Leading levels the model is sure of"
    )
    strategy = models.CharField(max_length=50, blank=True, help_text="Strategy that picked it")
    priority = models.FloatField(default=0.0)
    # Marked wrong in a verification grid: the item is asked again in full.
    rejected = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-model_version_id"]
        constraints = [
            models.UniqueConstraint(fields=["item", "model_version"], name="prediction_unique")
        ]

    def __str__(self) -> str:
        return f"prediction of item {self.item_id} by model {self.model_version_id}"

    @property
    def question(self) -> str:
        """The mode the queue asks in: a rejected prediction is asked in full."""
        return self.Mode.FULL if self.rejected else self.mode


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
    model_version = models.ForeignKey(ModelVersion, on_delete=models.CASCADE, related_name="+")
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
