"""Projects, their taxonomy, items, and the people and answers around them."""

import random
import uuid

from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.db import models
from django.db.models import Q

# The rows of imports live beside their code; they are this app's models all the same.
from annotator.imports.models import ImportJob, Upload  # noqa: F401
from annotator.jobs import Job


class Strategy(models.TextChoices):
    """The query strategies a project may use: the names of learning.core.strategies.

    A test holds the two lists equal; the labels explain each choice to a lead.
    """

    MARGIN = "margin", "Margin: the items whose top two classes are closest"
    LEAST_CONFIDENCE = "least_confidence", "Least confidence: the lowest top probability"
    ENTROPY = "entropy", "Entropy: the most spread-out predictions"
    HIERARCHICAL = "hierarchical", "Hierarchical: the weakest level of the predicted path"
    BALANCED = "balanced", "Class-balanced: rare predicted classes first, uncertain within"
    KCENTER = "kcenter", "Diversity (k-center): items unlike any chosen so far"
    COMBINED = "combined", "Combined: class-balanced diversity among the most uncertain"
    RANDOM = "random", "Random: the baseline"


class Project(models.Model):
    name = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    # Budget: None means unlimited.
    max_human_annotations = models.PositiveIntegerField(null=True, blank=True)
    daily_quota_per_annotator = models.PositiveIntegerField(null=True, blank=True)
    max_annotator_hours = models.FloatField(
        null=True, blank=True, help_text="Human annotation time (sum of duration_ms), in hours"
    )
    lease_seconds = models.PositiveIntegerField(default=600)
    # Overlap: how many people answer each item.
    annotations_per_item = models.PositiveSmallIntegerField(default=1)
    # Learning: how the next items are chosen and when the model retrains.
    # The best of the strategies on the CIFAR-10 benchmark (docs/benchmarks.md).
    strategy = models.CharField(max_length=30, choices=Strategy.choices, default=Strategy.MARGIN)
    batch_size = models.PositiveIntegerField(default=100)
    retrain_every = models.PositiveIntegerField(
        default=50, help_text="Retrain after this many new human annotations"
    )
    shadow_size = models.PositiveIntegerField(
        default=100, help_text="Random items held out to measure the model"
    )
    # The cascade: auto-accept predictions above a threshold chosen so that the
    # precision measured on a random audit sample reaches the target.
    auto_accept_enabled = models.BooleanField(default=False)
    auto_accept_target = models.FloatField(default=0.99)
    audit_size = models.PositiveIntegerField(default=100)

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        return self.name


class Membership(models.Model):
    """A user's role in a project. Admins are Django staff and need no membership."""

    class Role(models.TextChoices):
        LEAD = "lead"
        ANNOTATOR = "annotator"

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="memberships")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships"
    )
    role = models.CharField(max_length=20, choices=Role.choices)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["project", "user"], name="membership_unique_user")
        ]

    def __str__(self) -> str:
        return f"{self.user} as {self.role} in {self.project}"


class Taxonomy(models.Model):
    """One version of a project's class hierarchy; the highest version is current."""

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="taxonomies")
    version = models.PositiveIntegerField(default=1)
    name = models.CharField(max_length=200, blank=True)
    levels = models.JSONField(default=list, help_text="Level names from the root down")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["project", "-version"]
        verbose_name_plural = "taxonomies"
        constraints = [
            models.UniqueConstraint(fields=["project", "version"], name="taxonomy_unique_version")
        ]

    def __str__(self) -> str:
        return f"{self.name or 'taxonomy'} v{self.version} ({self.project})"


class TaxonomyNode(models.Model):
    taxonomy = models.ForeignKey(Taxonomy, on_delete=models.CASCADE, related_name="nodes")
    parent = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.CASCADE, related_name="children"
    )
    name = models.CharField(max_length=200)
    path = models.CharField(max_length=1000, help_text="Stable path such as animal/cat")
    depth = models.PositiveSmallIntegerField(help_text="1 for the top level")
    position = models.PositiveIntegerField(default=0, help_text="Order among siblings")
    is_leaf = models.BooleanField(default=False)

    class Meta:
        ordering = ["taxonomy", "depth", "position"]
        constraints = [
            models.UniqueConstraint(fields=["taxonomy", "path"], name="taxonomy_node_unique_path")
        ]

    def __str__(self) -> str:
        return self.path


def random_priority() -> float:
    return random.random()


def item_image_path(item: "Item", filename: str) -> str:
    # Generated names: nothing the uploader chose reaches the file system.
    extension = {"JPEG": "jpg", "PNG": "png", "WEBP": "webp"}[item.format]
    return f"projects/{item.project_id}/{item.content_hash[:2]}/{item.content_hash}.{extension}"


class Item(models.Model):
    class State(models.TextChoices):
        UNLABELED = "unlabeled"
        LABELED = "labeled"

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="items")
    image = models.FileField(upload_to=item_image_path, max_length=300)
    original_name = models.CharField(max_length=500)
    content_hash = models.CharField(max_length=64, help_text="SHA-256 of the file's bytes")
    format = models.CharField(max_length=8)
    width = models.PositiveIntegerField()
    height = models.PositiveIntegerField()

    class Sample(models.TextChoices):
        NONE = "", "none"
        SHADOW = "shadow", "random shadow sample: measures the model, never trains it"
        AUDIT = "audit", "cascade audit sample: measures auto-accept precision"

    state = models.CharField(max_length=20, choices=State.choices, default=State.UNLABELED)
    sample = models.CharField(max_length=10, choices=Sample.choices, default="", blank=True)
    # Written by the learning side; random until a model exists. Higher goes first.
    priority = models.FloatField(default=random_priority)
    # The lease that holds the item, if any. Kept on the row itself so that the
    # queue's FOR UPDATE re-check sees a lease taken by a concurrent transaction.
    lease_expires_at = models.DateTimeField(null=True, blank=True)
    # Known true leaf (from labelled folders): for gold and simulation, never shown.
    ground_truth = models.ForeignKey(
        TaxonomyNode, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(fields=["project", "content_hash"], name="item_unique_hash")
        ]
        indexes = [
            models.Index(fields=["project", "state", "-priority"], name="item_queue_order"),
        ]

    def __str__(self) -> str:
        return f"item {self.pk} ({self.original_name})"


class ModelVersion(models.Model):
    class Source(models.TextChoices):
        TRAINED = "trained", "trained by Arbor on the human labels"
        # CHiLS on a CLIP backbone, before any label: guesses to check.
        ZERO_SHOT = "zero_shot", "predicted from the class names alone"
        # No checkpoint and no metrics of Arbor's.
        EXTERNAL = "external", "imported from an outside model"

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="model_versions")
    taxonomy = models.ForeignKey(Taxonomy, on_delete=models.PROTECT, related_name="model_versions")
    version = models.PositiveIntegerField()
    checkpoint = models.CharField(max_length=500, blank=True)
    # What the embeddings came from: a backbone name and where its weights came from.
    backbone = models.CharField(max_length=200, blank=True)
    backbone_weights = models.CharField(max_length=500, blank=True)
    human_labels = models.PositiveIntegerField(default=0)
    source = models.CharField(max_length=20, choices=Source.choices, default=Source.TRAINED)
    # Accuracy per level on the shadow sample and the gold set, cascade threshold, ...
    metrics = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        db_table = "learning_modelversion"  # created by the learning app, before the move
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

    item = models.ForeignKey(Item, on_delete=models.CASCADE, related_name="predictions")
    model_version = models.ForeignKey(
        ModelVersion, on_delete=models.CASCADE, related_name="predictions"
    )
    # Most likely node at each level, top-down: [{"node": id, "path": ..., "p": ...}, ...]
    path = models.JSONField(default=list)
    predicted_node = models.ForeignKey(TaxonomyNode, on_delete=models.CASCADE, related_name="+")
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
        db_table = "learning_prediction"  # created by the learning app, before the move
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


class Assignment(models.Model):
    """A lease: the item is the annotator's until it expires, is submitted or released."""

    class State(models.TextChoices):
        ACTIVE = "active"
        SUBMITTED = "submitted"
        RELEASED = "released"
        EXPIRED = "expired"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="assignments")
    item = models.ForeignKey(Item, on_delete=models.CASCADE, related_name="assignments")
    annotator = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="assignments"
    )
    state = models.CharField(max_length=20, choices=State.choices, default=State.ACTIVE)
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField()
    # What the annotator was shown, so the answer's provenance comes from the server.
    prediction = models.ForeignKey(
        Prediction, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["annotator", "state"], name="assignment_user_state")]
        constraints = [
            models.UniqueConstraint(
                fields=["item"], condition=Q(state="active"), name="assignment_one_active_per_item"
            )
        ]

    def __str__(self) -> str:
        return f"lease of item {self.item_id} to user {self.annotator_id} ({self.state})"


class Annotation(models.Model):
    class Source(models.TextChoices):
        MANUAL = "manual"
        CONFIRMED = "confirmed"
        CORRECTED = "corrected"
        AUTO = "auto"

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="annotations")
    item = models.ForeignKey(Item, on_delete=models.CASCADE, related_name="annotations")
    annotator = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="annotations",
        help_text="Empty for auto-accepted labels",
    )
    # An inner node is a coarse-only answer.
    node = models.ForeignKey(TaxonomyNode, on_delete=models.PROTECT, related_name="annotations")
    source = models.CharField(max_length=20, choices=Source.choices)
    assignment = models.ForeignKey(
        Assignment, null=True, blank=True, on_delete=models.SET_NULL, related_name="annotations"
    )
    prediction = models.ForeignKey(
        Prediction,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        help_text="The prediction shown to the annotator",
    )
    model_version = models.ForeignKey(
        ModelVersion, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    duration_ms = models.PositiveIntegerField(null=True, blank=True)
    # NULL, not "", for "no key": the unique constraint must not treat two as equal.
    idempotency_key = models.CharField(max_length=100, null=True, blank=True)  # noqa: DJ001
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(
                fields=["annotator", "idempotency_key"],
                condition=Q(idempotency_key__isnull=False),
                name="annotation_unique_idempotency_key",
            )
        ]
        indexes = [
            models.Index(fields=["project", "annotator", "created_at"], name="annotation_quota"),
        ]

    def __str__(self) -> str:
        return f"annotation {self.pk} of item {self.item_id} ({self.source})"


class AuditEvent(models.Model):
    """Who changed what in a project, with the values before and after. Written once, never edited."""

    class Action(models.TextChoices):
        PROJECT_UPDATE = "project.update"
        BUDGET_UPDATE = "budget.update"
        BUDGET_NOTICE = "budget.notice"
        MEMBER_ADD = "member.add"
        MEMBER_ROLE_CHANGE = "member.role_change"
        MEMBER_REMOVE = "member.remove"
        TAXONOMY_CREATE = "taxonomy.create"
        TAXONOMY_VERSION = "taxonomy.version"
        AUTOLABEL_REVOKE = "autolabel.revoke"

    # Empty for events that concern no single project.
    project = models.ForeignKey(
        Project, null=True, blank=True, on_delete=models.CASCADE, related_name="audit_events"
    )
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        help_text="Empty for the system (scripts, budget notices)",
    )
    # Kept apart from the foreign key so the log still names a user who was deleted.
    actor_username = models.CharField(max_length=150, blank=True)
    action = models.CharField(max_length=40, choices=Action.choices)
    target_type = models.CharField(max_length=40, blank=True)
    target_id = models.CharField(max_length=64, blank=True)
    before = models.JSONField(null=True, blank=True, encoder=DjangoJSONEncoder)
    after = models.JSONField(null=True, blank=True, encoder=DjangoJSONEncoder)
    # Events that must happen once (a budget notice per threshold) carry a key that the
    # database keeps unique per project, so concurrent writers cannot both record one.
    once_key = models.CharField(max_length=100, null=True, blank=True)  # noqa: DJ001
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["project", "created_at"], name="audit_project_created")]
        constraints = [
            models.UniqueConstraint(
                fields=["project", "once_key"],
                condition=Q(once_key__isnull=False),
                name="audit_unique_once_key",
            )
        ]

    def __str__(self) -> str:
        return (
            f"{self.action} by {self.actor_username or 'system'} ({self.created_at:%Y-%m-%d %H:%M})"
        )


class TaxonomyNodeMapping(models.Model):
    """Where a node of the previous taxonomy version went in the next one.

    Annotations and ground truth were moved along these rows when the version was made.
    """

    class Kind(models.TextChoices):
        SAME = "same", "Same class (possibly renamed or moved)"
        MERGED = "merged", "Merged with other nodes"
        COARSENED = "coarsened", "Split: answers kept at the parent, items asked again"

    taxonomy = models.ForeignKey(
        Taxonomy,
        on_delete=models.CASCADE,
        related_name="node_mappings",
        help_text="The new version",
    )
    old_node = models.ForeignKey(TaxonomyNode, on_delete=models.CASCADE, related_name="+")
    new_node = models.ForeignKey(TaxonomyNode, on_delete=models.CASCADE, related_name="+")
    kind = models.CharField(max_length=20, choices=Kind.choices)

    class Meta:
        ordering = ["taxonomy", "old_node"]
        constraints = [
            models.UniqueConstraint(
                fields=["taxonomy", "old_node"], name="taxonomy_mapping_unique_old_node"
            )
        ]

    def __str__(self) -> str:
        return f"{self.old_node} -> {self.new_node} ({self.kind})"


def export_file_path(export: "Export", filename: str) -> str:
    return f"exports/{filename}"


class Export(Job):
    """A dataset export run by the worker, with its provenance, progress and file."""

    class Format(models.TextChoices):
        CSV = "csv"
        JSON = "json"
        COCO = "coco"
        IMAGEFOLDER = "imagefolder"

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="exports")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    format = models.CharField(max_length=20, choices=Format.choices)
    options = models.JSONField(
        default=dict, blank=True, help_text="Filters, and the layout of an ImageFolder zip"
    )
    # The versions the labels and predictions come from, fixed when the export starts.
    taxonomy = models.ForeignKey(Taxonomy, on_delete=models.PROTECT, related_name="exports")
    model_version = models.ForeignKey(
        ModelVersion,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        help_text="The newest model version when the export started; no newer prediction is used",
    )
    total = models.PositiveIntegerField(default=0, help_text="Labeled items to go through")
    processed = models.PositiveIntegerField(default=0)
    exported = models.PositiveIntegerField(default=0)
    left_out = models.JSONField(
        default=dict, blank=True, help_text="Labeled items not exported, counted by reason"
    )
    file = models.FileField(upload_to=export_file_path, max_length=300, blank=True)
    size = models.PositiveBigIntegerField(null=True, blank=True, help_text="Bytes")

    def __str__(self) -> str:
        return f"{self.format} export {self.pk} of project {self.project_id} ({self.state})"
