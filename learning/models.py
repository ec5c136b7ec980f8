"""The learning side's own records: training runs, the label issues they flag, and the
labeling guide (definitions and the examples each run chooses).

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


class GuideDefinition(models.Model):
    """A lead's definition of a class for the labeling guide. It stays on the node it was
    written for; later taxonomy versions find it through the node mappings."""

    project = models.ForeignKey(
        "annotator.Project", on_delete=models.CASCADE, related_name="guide_definitions"
    )
    node = models.OneToOneField(
        "annotator.TaxonomyNode", on_delete=models.CASCADE, related_name="guide_definition"
    )
    text = models.TextField(max_length=2000, blank=True)
    updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"definition of {self.node}"


class GuideExample(models.Model):
    """An example image of a class in the labeling guide, chosen after each retrain.

    A lead may pin one (it stays through the next refresh) or remove one (it is never
    chosen again for that class); the rest are replaced by each refresh.
    """

    class Kind(models.TextChoices):
        TYPICAL = "typical", "a typical item of the class"
        LOOKALIKE = "lookalike", "an item of a class often confused with it, most like it"

    project = models.ForeignKey(
        "annotator.Project", on_delete=models.CASCADE, related_name="guide_examples"
    )
    node = models.ForeignKey(
        "annotator.TaxonomyNode",
        on_delete=models.CASCADE,
        related_name="+",
        help_text="Shown under",
    )
    item = models.ForeignKey("annotator.Item", on_delete=models.CASCADE, related_name="+")
    kind = models.CharField(max_length=20, choices=Kind.choices)
    # A lookalike: the class the item belongs to, and how often the model confused the two.
    other = models.ForeignKey(
        "annotator.TaxonomyNode", null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    confusions = models.PositiveIntegerField(default=0)
    rank = models.PositiveSmallIntegerField(default=0, help_text="0 is the most typical")
    model_version = models.ForeignKey(
        "annotator.ModelVersion", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    pinned = models.BooleanField(default=False)
    removed = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["node", "kind", "-pinned", "rank", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["node", "item", "kind"], name="guide_example_unique_item"
            )
        ]

    def __str__(self) -> str:
        return f"{self.kind} example item {self.item_id} of {self.node}"


class ProjectBackbone(models.Model):
    """A project's backbone, chosen by a lead; a project without one uses
    ``ARBOR_DEFAULT_BACKBONE``. Embeddings are kept per backbone and weights file."""

    project = models.OneToOneField(
        "annotator.Project", on_delete=models.CASCADE, related_name="backbone_choice"
    )
    name = models.CharField(max_length=200)
    weights = models.CharField(
        max_length=255,
        blank=True,
        help_text="A file in ARBOR_WEIGHTS_DIR; blank: the backbone's standard weights",
    )
    updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"backbone {self.name} of project {self.project_id}"


class PretrainRun(Job):
    """Training of a project's backbone, asked by a lead with a time budget: SimCLR on
    its own pool (no labels), or a fine-tune on its human labels. On success the project
    switches to the weights it wrote."""

    class Method(models.TextChoices):
        SIMCLR = "simclr", "SimCLR on every image (no labels)"
        FINETUNE = "finetune", "Fine-tune on the human labels"

    project = models.ForeignKey(
        "annotator.Project", on_delete=models.CASCADE, related_name="pretrain_runs"
    )
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    time_budget_s = models.PositiveIntegerField(help_text="Seconds the training may take")
    method = models.CharField(max_length=20, choices=Method.choices, default=Method.SIMCLR)
    backbone = models.CharField(max_length=200, help_text="The backbone trained")
    start_weights = models.CharField(
        max_length=255, blank=True, help_text="Weights file it started from; blank: standard"
    )
    weights = models.CharField(
        max_length=255, blank=True, help_text="The file written in ARBOR_WEIGHTS_DIR"
    )
    stats = models.JSONField(default=dict, blank=True)

    class Meta(Job.Meta):
        constraints = [
            models.UniqueConstraint(
                fields=["project"],
                condition=Q(state__in=["queued", "running"]),
                name="pretrain_one_active_run_per_project",
            )
        ]

    def __str__(self) -> str:
        return f"pretraining {self.pk} of project {self.project_id} ({self.state})"
