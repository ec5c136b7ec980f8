"""One round of the loop for a project: rows in, the pure core's maths, rows out.

Train the head on human labels (the shadow and audit samples held out), score every
item, measure the model on the shadow sample and the gold set, select the next batch,
and write predictions, routing modes and queue priorities. The core never sees Django.
"""

import logging
import time
from dataclasses import dataclass, field

import numpy as np
import torch
from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from annotator.models import (
    Annotation,
    Item,
    ModelVersion,
    Prediction,
    Project,
)
from annotator.selectors import model_version_latest
from learning.core import cascade
from learning.core.backbones import Backbone
from learning.core.calibration import head_calibrate, temperature_fit
from learning.core.evaluation import (
    predicted_path_level_probabilities,
    predicted_path_probability,
    samples_evaluate,
)
from learning.core.label_review import labels_review
from learning.core.propagation import pca_project
from learning.core.scoring import PoolScores, score_embeddings
from learning.core.strategies import PoolState, route, select
from learning.core.training import HeadConfig, save_head, train_head
from learning.embeddings import pool_embeddings, project_folder
from learning.guide import guide_examples_refresh
from learning.labels import ProjectTaxonomy, human_labels
from learning.models import TrainingRun

logger = logging.getLogger(__name__)

# Queue priorities: the shadow sample first (it measures every model), then the audit
# sample (it unlocks auto-accept), then the selected batch, then the rest by uncertainty.
SHADOW_PRIORITY, AUDIT_PRIORITY, BATCH_PRIORITY = 4.0, 3.0, 2.0
AUDIT_CONFIDENCE_FLOOR = 0.5
# Rows written per transaction; a batch's rows are locked only while it commits.
WRITE_BATCH = 2000
# A prediction written again (a run taken over mid-write) takes the new values.
PREDICTION_FIELDS = [
    "path",
    "predicted_node",
    "confidence",
    "uncertainty",
    "mode",
    "settled_depth",
    "strategy",
    "priority",
]


@dataclass
class RoundResult:
    model_version: ModelVersion
    timings: dict[str, float] = field(default_factory=dict)


def _sample_draw(project: Project, candidates: np.ndarray, size: int, sample: str) -> np.ndarray:
    rng = np.random.default_rng(project.pk)
    chosen = rng.choice(candidates, size=min(size, len(candidates)), replace=False)
    Item.objects.filter(pk__in=chosen.tolist()).update(sample=sample)
    return chosen


def round_run(*, run: TrainingRun) -> RoundResult:
    project = run.project
    timings: dict[str, float] = {}
    started = time.perf_counter()
    taxonomy = ProjectTaxonomy.current(project)
    core = taxonomy.core
    items = list(
        Item.objects.filter(project=project)
        .order_by("id")
        .values_list("id", "state", "sample", "ground_truth_id")
    )
    item_ids = np.array([row[0] for row in items], dtype=np.int64)
    state = np.array([row[1] for row in items], dtype=object)
    # object, not a fixed-width string dtype: "" would truncate "shadow" to "s"
    sample = np.array([row[2] for row in items], dtype=object)
    gold = np.array([row[3] or 0 for row in items], dtype=np.int64)
    if not (sample == Item.Sample.SHADOW).any() and project.shadow_size:
        unlabeled_ids = item_ids[state == Item.State.UNLABELED]
        shadow = _sample_draw(project, unlabeled_ids, project.shadow_size, Item.Sample.SHADOW)
        sample[np.isin(item_ids, shadow)] = Item.Sample.SHADOW

    # The kept embeddings: only items imported since they were computed are embedded now.
    embeddings, backbone = pool_embeddings(project=project, item_ids=item_ids)
    timings["features_s"] = time.perf_counter() - started

    answers = human_labels(project, taxonomy)
    label = np.array([answers.get(item_id, -1) for item_id in item_ids.tolist()], np.int64)
    held_out = np.isin(sample, [Item.Sample.SHADOW, Item.Sample.AUDIT])
    train = (label >= 0) & ~held_out
    unlabeled = state == Item.State.UNLABELED
    pool = unlabeled & ~held_out

    started = time.perf_counter()
    head = train_head(embeddings[train], label[train], core, embeddings[pool], HeadConfig())
    temperature = _temperature(core, head, embeddings, label, sample)
    head = head_calibrate(head, temperature)
    timings["train_s"] = time.perf_counter() - started
    started = time.perf_counter()
    scores = score_embeddings(head, embeddings, core)
    timings["score_s"] = time.perf_counter() - started

    metrics = {"human_labels": int(train.sum()), "temperature": round(temperature, 4)}
    metrics.update(_evaluate(core, scores, label, gold, sample, train, taxonomy))

    started = time.perf_counter()
    # A compact space for the diversity strategies' distances.
    projected = pca_project(embeddings)
    leaf_counts = np.bincount(
        [core.leaf_position(index) for index in label[train] if index in core.leaves],
        minlength=core.num_leaves,
    )
    pool_rows = np.flatnonzero(pool)
    selection = select(
        project.strategy,
        PoolState(
            taxonomy=core,
            leaf_probs=scores.leaf_probs[pool_rows],
            embeddings=projected[pool_rows],
            labeled_embeddings=projected[train],
            labeled_leaf_counts=leaf_counts,
        ),
        project.batch_size,
        seed=run.pk,
    )
    timings["select_s"] = time.perf_counter() - started

    # Short transactions, not one: a transaction over the whole write would row-lock every
    # unlabeled item until it commits, and the queue (SKIP LOCKED) would hand out nothing
    # meanwhile. Each step can run again: a takeover of the run finds what is written.
    with transaction.atomic():
        version = _model_version_write(run, taxonomy, head, metrics, backbone)
        if project.auto_accept_enabled:
            sample = _cascade(project, version, taxonomy, scores, item_ids, sample, label, pool)
    predictions_write(version, taxonomy, scores, item_ids, unlabeled, sample, pool_rows, selection)
    if project.auto_accept_enabled:
        with transaction.atomic():
            _auto_accept(project, version, taxonomy, scores, item_ids, sample, unlabeled)
    _label_issues_flag(project, version, taxonomy, embeddings, label, train, item_ids)
    # The labeling guide's examples, from this model's embedding and confusion.
    guide_examples_refresh(
        version=version, taxonomy=taxonomy, embeddings=embeddings, label=label, item_ids=item_ids
    )
    return RoundResult(model_version=version, timings=timings)


def _temperature(core, head, embeddings, label, sample) -> float:
    """Fitted on the shadow sample's human leaf labels: random, and never trained on."""
    rows = np.flatnonzero((sample == Item.Sample.SHADOW) & np.isin(label, list(core.leaves)))
    if len(rows) < settings.ARBOR_CALIBRATION_MIN_LABELS:
        return 1.0
    with torch.inference_mode():
        logits = head(torch.from_numpy(embeddings[rows])).numpy()
    return temperature_fit(logits, [core.leaf_position(index) for index in label[rows]])


def _evaluate(core, scores: PoolScores, label, gold, sample, train, taxonomy) -> dict:
    """Accuracy per level on the shadow sample (human labels) and the gold set."""
    # Gold answers off the current taxonomy's leaves (or none: id 0) are left out.
    leaf_index = {node.pk: taxonomy.core_index(node) for node in taxonomy.nodes if node.is_leaf}
    gold_index = np.array([leaf_index.get(node_id, -1) for node_id in gold.tolist()], np.int64)
    samples = {
        "shadow": ((sample == Item.Sample.SHADOW) & np.isin(label, list(core.leaves)), label),
        "gold": ((gold_index >= 0) & ~train, gold_index),
    }
    return samples_evaluate(core, scores.leaf_probs, scores.predicted_path, samples)


def _model_version_write(
    run, taxonomy: ProjectTaxonomy, head, metrics, backbone: Backbone
) -> ModelVersion:
    """The run's model version; a redelivered run finds the one it already wrote."""
    project = run.project
    Project.objects.select_for_update().filter(pk=project.pk).first()
    existing = ModelVersion.objects.filter(training_run=run).first()
    if existing is not None:
        return existing
    latest = model_version_latest(project=project)
    number = latest.version + 1 if latest else 1
    checkpoint = project_folder(project) / f"model-v{number}.pt"
    name, weights = backbone.spec.name, backbone.weights
    save_head(
        checkpoint, head, taxonomy.core, name, weights, {"project": project.pk, "version": number}
    )
    version = ModelVersion.objects.create(
        project=project,
        taxonomy=taxonomy.taxonomy,
        version=number,
        checkpoint=str(checkpoint.relative_to(settings.MEDIA_ROOT)),
        human_labels=metrics["human_labels"],
        metrics=metrics,
        backbone=name,
        backbone_weights=weights,
    )
    TrainingRun.objects.filter(pk=run.pk).update(model_version=version)
    return version


def predictions_write(
    version, taxonomy, scores, item_ids, unlabeled, sample, pool_rows, selection
) -> None:
    core = taxonomy.core
    rows = np.flatnonzero(unlabeled)
    confidence = predicted_path_probability(core, scores.leaf_probs, scores.predicted_path)
    path_probs = predicted_path_level_probabilities(core, scores.level_probs, scores.predicted_path)
    modes, settled = route(scores.leaf_probs[rows], core)
    priority = 1.0 - confidence  # the rest of the pool: most uncertain first
    picked = pool_rows[selection.indices]
    priority[picked] = BATCH_PRIORITY + np.linspace(1.0, 0.0, len(picked), endpoint=False)
    rng = np.random.default_rng(version.pk)
    for name, base in ((Item.Sample.AUDIT, AUDIT_PRIORITY), (Item.Sample.SHADOW, SHADOW_PRIORITY)):
        members = sample == name
        priority[members] = base + rng.random(members.sum()) * 0.5
    strategy_for = dict.fromkeys(picked.tolist(), version.project.strategy)
    predictions = []
    for position, row in enumerate(rows.tolist()):
        path = [
            {
                "node": taxonomy.nodes[index].pk,
                "path": taxonomy.nodes[index].path,
                "p": round(float(path_probs[row, level]), 4),
            }
            for level, index in enumerate(scores.predicted_path[row].tolist())
        ]
        mode = Prediction.Mode.VERIFY if sample[row] == Item.Sample.AUDIT else modes[position]
        predictions.append(
            Prediction(
                item_id=int(item_ids[row]),
                model_version=version,
                path=path,
                predicted_node_id=path[-1]["node"],
                confidence=float(confidence[row]),
                uncertainty=float(1.0 - confidence[row]),
                mode=mode,
                settled_depth=core.depth
                if mode == Prediction.Mode.VERIFY
                else int(settled[position]),
                strategy=strategy_for.get(row, ""),
                priority=float(priority[row]),
            )
        )
    items = [Item(pk=int(item_ids[row]), priority=float(priority[row])) for row in rows.tolist()]
    for start in range(0, len(items), WRITE_BATCH):
        # One short transaction a batch: it locks these rows only for a moment.
        with transaction.atomic():
            Prediction.objects.bulk_create(
                predictions[start : start + WRITE_BATCH],
                update_conflicts=True,
                unique_fields=["item", "model_version"],
                update_fields=PREDICTION_FIELDS,
            )
            Item.objects.bulk_update(items[start : start + WRITE_BATCH], ["priority"])
    _predictions_prune(version)


def _predictions_prune(version: ModelVersion) -> None:
    """Drop older versions' predictions that no lease or answer points to."""
    project = version.project
    referenced = Q(pk__in=Annotation.objects.filter(project=project).values("prediction_id")) | Q(
        pk__in=project.assignments.values("prediction_id")
    )
    Prediction.objects.filter(model_version__project=project).exclude(
        model_version=version
    ).exclude(referenced).delete()


def _cascade(project, version, taxonomy, scores, item_ids, sample, label, pool) -> np.ndarray:
    """Draw the audit sample once: random items among the confident part of the pool."""
    if (sample == Item.Sample.AUDIT).any():
        return sample
    confidence = predicted_path_probability(taxonomy.core, scores.leaf_probs, scores.predicted_path)
    candidates = item_ids[pool & (confidence >= AUDIT_CONFIDENCE_FLOOR)]
    audit = _sample_draw(project, candidates, project.audit_size, Item.Sample.AUDIT)
    sample = sample.copy()
    sample[np.isin(item_ids, audit)] = Item.Sample.AUDIT
    return sample


def _auto_accept(project, version, taxonomy, scores, item_ids, sample, unlabeled) -> None:
    """Accept every confident pool prediction above the audited threshold."""
    core = taxonomy.core
    confidence = predicted_path_probability(core, scores.leaf_probs, scores.predicted_path)
    answers = human_labels(project, taxonomy)
    leaves = set(core.leaves)
    audited, correct = [], []
    for row in np.flatnonzero(sample == Item.Sample.AUDIT).tolist():
        index = answers.get(int(item_ids[row]), -1)
        if index in leaves:
            audited.append(row)
            correct.append(index == scores.predicted_path[row, -1])
    chosen = cascade.threshold_choose(
        confidence[audited], np.array(correct, dtype=bool), target=project.auto_accept_target
    )
    summary = {"audited": len(audited), "correct": int(np.sum(correct)), "accepted": 0}
    if chosen is not None:
        accept = np.flatnonzero(
            unlabeled & (sample == Item.Sample.NONE) & (confidence >= chosen.threshold)
        )
        # Items someone answered or leased while the run trained stay with the people.
        now = timezone.now()
        still_open = set(
            Item.objects.select_for_update()
            .filter(pk__in=item_ids[accept].tolist(), state=Item.State.UNLABELED)
            .filter(Q(lease_expires_at__isnull=True) | Q(lease_expires_at__lte=now))
            .values_list("pk", flat=True)
        )
        accept = accept[np.isin(item_ids[accept], list(still_open))]
        predictions = dict(
            Prediction.objects.filter(
                model_version=version, item_id__in=item_ids[accept].tolist()
            ).values_list("item_id", "pk")
        )
        Annotation.objects.bulk_create(
            [
                Annotation(
                    project=project,
                    item_id=int(item_ids[row]),
                    node=taxonomy.nodes[scores.predicted_path[row, -1]],
                    source=Annotation.Source.AUTO,
                    prediction_id=predictions.get(int(item_ids[row])),
                    model_version=version,
                )
                for row in accept.tolist()
            ],
            batch_size=2000,
        )
        Item.objects.filter(pk__in=item_ids[accept].tolist(), state=Item.State.UNLABELED).update(
            state=Item.State.LABELED
        )
        summary.update(
            threshold=chosen.threshold,
            precision_lower_bound=chosen.precision_lower_bound,
            audited_above=chosen.audited_above,
            accepted=len(accept),
        )
    version.metrics = {**version.metrics, "cascade": summary}
    version.save(update_fields=["metrics"])


def _label_issues_flag(project, version, taxonomy, embeddings, label, train, item_ids) -> None:
    """Flag human labels that confident learning finds unlikely, for a lead to review.

    The maths (k-fold heads, cleanlab per trusted level) is ``learning.core.label_review``;
    here the training rows go in and one LabelIssue per newly flagged answer comes out.
    """
    from learning.models import LabelIssue

    core = taxonomy.core
    rows = np.flatnonzero(train & np.isin(label, list(core.leaves)))
    if len(rows) < settings.ARBOR_LABEL_REVIEW_MIN_LABELS:
        return
    found = labels_review(
        embeddings[rows],
        label[rows],
        core,
        seed=version.pk,
        min_accuracy=settings.ARBOR_LABEL_REVIEW_MIN_ACCURACY,
    )
    if not len(found):
        return
    flagged_items = item_ids[rows[found.indices]].tolist()
    latest = {}
    for annotation in (
        Annotation.objects.filter(project=project, item_id__in=flagged_items)
        .exclude(source=Annotation.Source.AUTO)
        .order_by("item_id", "created_at", "id")
    ):
        latest[annotation.item_id] = annotation
    already = set(
        LabelIssue.objects.filter(annotation__in=latest.values()).values_list(
            "annotation_id", flat=True
        )
    )
    issues = []
    for position, item_id in enumerate(flagged_items):
        annotation = latest.get(item_id)
        if annotation is None or annotation.pk in already:
            continue
        issues.append(
            LabelIssue(
                project=project,
                annotation=annotation,
                model_version=version,
                suggested_node=taxonomy.nodes[found.suggested[position]],
                label_quality=float(found.quality[position]),
            )
        )
    LabelIssue.objects.bulk_create(issues)
