"""A whole labeling campaign with simulated annotators, through the real services.

Simulated annotators answer with an item's true leaf (wrong at the noise rate) and
press the keys the UI needs for the question the queue asks. Human time follows the
Keystroke-Level Model (Card, Moran and Newell) with the constants below; every figure
in a report is computed with them:

- a keystroke K = 0.28 s; a mental preparation M = 1.35 s per decision;
- picking one node among c choices: M + K + HICK_S * log2(c + 1) of visual search
  (Hick-Hyman, 0.15 s per bit);
- a shown prediction that is right is confirmed with M + K (one key: Enter), in every
  mode, as the labeling page allows (keymap.js); a wrong one costs nothing extra in full
  mode, where the person simply picks the path;
- fine mode (coarse settled): one pick per unsettled level; a wrong settled node is
  rejected (M + K) and the whole path picked;
- grid verification of a page of up to 24 items predicted as one leaf (the grid API):
  one M + K per wrong item marked (each goes back to the queue and is labeled in full
  later), one M + K to accept the page, and a glance of GLANCE_S per item;
- manual baseline: every item labeled one by one, a pick per level, no model.
"""

import json
import math
import time
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from django.contrib.auth import get_user_model
from django.db import transaction

from annotator import services as annotator_services
from annotator.imports.job import images_import
from annotator.models import (
    Annotation,
    Item,
    Membership,
    ModelVersion,
    Prediction,
    Project,
    TaxonomyNode,
)
from annotator.projects import project_create
from annotator.selectors import model_version_latest, taxonomy_current

KEY_S = 0.28
MENTAL_S = 1.35
HICK_S = 0.15
GLANCE_S = 0.3
GRID_PAGE = 24


def pick_seconds(choices: int) -> float:
    return MENTAL_S + KEY_S + HICK_S * math.log2(choices + 1)


@dataclass
class Tally:
    keystrokes: int = 0
    seconds: float = 0.0
    answers: int = 0

    def add(self, keys: int, seconds: float) -> None:
        self.keystrokes += keys
        self.seconds += seconds


@dataclass
class Annotator:
    """One simulated person: answers truthfully but for the noise rate."""

    user: object
    rng: np.random.Generator
    noise: float
    leaves: list[TaxonomyNode]
    choices_at: dict[int | None, int]  # parent id -> number of children
    depth: int

    def answer_for(self, item: Item) -> TaxonomyNode:
        truth = item.ground_truth
        if self.rng.random() < self.noise:
            return self.leaves[
                int(self.rng.choice([i for i, leaf in enumerate(self.leaves) if leaf != truth]))
            ]
        return truth

    def full_path_cost(self, node: TaxonomyNode, from_depth: int = 0) -> tuple[int, float]:
        """Keys and seconds to pick ``node``'s path below its first ``from_depth`` levels."""
        path = []
        current = node
        while current is not None:
            path.append(current)
            current = current.parent
        path.reverse()
        keys, seconds = 0, 0.0
        for level in range(from_depth, len(path)):
            parent_id = path[level].parent_id
            keys += 1
            seconds += pick_seconds(self.choices_at[parent_id])
        return keys, seconds


def _nodes(project: Project) -> tuple[list[TaxonomyNode], dict, int]:
    taxonomy = taxonomy_current(project=project)
    nodes = list(taxonomy.nodes.select_related("parent"))
    children = defaultdict(int)
    for node in nodes:
        children[node.parent_id] += 1
    leaves = [node for node in nodes if node.is_leaf]
    return leaves, dict(children), max(node.depth for node in nodes)


def _submit(person: Annotator, lease, node: TaxonomyNode, tally: Tally) -> None:
    annotator_services.annotation_submit(
        item=lease.item,
        user=person.user,
        node=node.pk,
        lease_id=lease.assignment.pk,
        idempotency_key=str(lease.assignment.pk),
        duration_ms=None,
    )
    tally.answers += 1


def _answer(project: Project, person: Annotator, lease, tally: Tally) -> None:
    """Answer one leased item as the UI would ask it."""
    item, prediction = lease.item, lease.prediction
    mode = prediction.question if prediction else Prediction.Mode.FULL
    if mode == Prediction.Mode.VERIFY:
        # The UI switches to the grid: a page of items predicted as this one's leaf.
        annotator_services.lease_release(assignment_id=lease.assignment.pk, user=person.user)
        if _grid_page(project, person, tally):
            return
        lease = annotator_services.queue_next(project=project, user=person.user)
        if lease is None:
            return
        item, prediction, mode = lease.item, lease.prediction, Prediction.Mode.FULL
    answer = person.answer_for(item)
    if prediction and not prediction.rejected and answer.pk == prediction.predicted_node_id:
        keys, seconds = 1, MENTAL_S + KEY_S  # Enter confirms the shown prediction
    elif mode == Prediction.Mode.FINE:
        settled = prediction.path[prediction.settled_depth - 1]["node"]
        ancestors = set()
        current = answer
        while current is not None:
            ancestors.add(current.pk)
            current = current.parent
        if settled in ancestors:
            keys, seconds = person.full_path_cost(answer, from_depth=prediction.settled_depth)
        else:  # the settled node is wrong: reject it, then pick the whole path
            keys, seconds = person.full_path_cost(answer)
            keys, seconds = keys + 1, seconds + MENTAL_S + KEY_S
    else:
        keys, seconds = person.full_path_cost(answer)
    tally.add(keys, seconds)
    _submit(person, lease, answer, tally)


def _grid_page(project: Project, person: Annotator, tally: Tally) -> bool:
    """Verify one grid page: mark the wrong items, accept the rest with one key.

    The wrong ones go back to the queue and are labeled in full later (and counted then).
    """
    grid = annotator_services.grid_next(project=project, user=person.user, size=GRID_PAGE)
    if grid is None:
        return False
    node, leases = grid
    accept, reject = [], []
    for lease in leases:
        (accept if person.answer_for(lease.item).pk == node.pk else reject).append(
            lease.assignment.pk
        )
    tally.add(1 + len(reject), (MENTAL_S + KEY_S) * (1 + len(reject)) + GLANCE_S * len(leases))
    annotator_services.grid_answer(project=project, user=person.user, accept=accept, reject=reject)
    tally.answers += len(accept)
    return True


@dataclass
class Campaign:
    images: Path
    taxonomy: Path
    strategy: str
    budget: int
    annotators: int
    noise: float = 0.0
    auto_accept: float | None = None
    batch_size: int = 100
    retrain_every: int = 200
    shadow_size: int = 100
    audit_size: int = 300
    eval_images: Path | None = None
    backbone: str | None = None  # None: ARBOR_DEFAULT_BACKBONE
    weights: Path | None = None
    seed: int = 0
    log: object = print


def _label_accuracy(project: Project) -> tuple[int, float]:
    """Items with a label, and the share whose latest label is the true leaf."""
    latest = dict(
        Annotation.objects.filter(project=project)
        .order_by("item_id", "created_at", "id")
        .values_list("item_id", "node_id")
    )
    truth = dict(Item.objects.filter(project=project).values_list("id", "ground_truth_id"))
    if not latest:
        return 0, 0.0
    correct = sum(truth[item_id] == node_id for item_id, node_id in latest.items())
    return len(latest), correct / len(latest)


def campaign_run(campaign: Campaign) -> dict:
    """Run the campaign; returns the report (rounds and final)."""
    from annotator.celery import app as celery_app

    # The answers trigger the real retrain task; it runs inline instead of on a worker.
    celery_app.conf.task_always_eager = True
    user_model = get_user_model()
    with transaction.atomic():
        project = project_create(
            name=f"simulation {campaign.strategy} {time.strftime('%Y-%m-%d %H:%M:%S')}",
            created_by=None,
            taxonomy=json.loads(campaign.taxonomy.read_text()),
        )
        for field_name, value in (
            ("strategy", campaign.strategy),
            ("batch_size", campaign.batch_size),
            ("retrain_every", campaign.retrain_every),
            ("shadow_size", campaign.shadow_size),
            ("audit_size", campaign.audit_size),
            ("max_human_annotations", campaign.budget),
            ("auto_accept_enabled", campaign.auto_accept is not None),
            ("auto_accept_target", campaign.auto_accept or 0.99),
        ):
            setattr(project, field_name, value)
        project.save()
        if campaign.backbone or campaign.weights:
            _backbone_choose(project, campaign)
    job = images_import(project=project, source=campaign.images, with_labels=True)
    campaign.log(f"imported {job.imported} images into project {project.pk}")
    leaves, children, depth = _nodes(project)
    people = []
    for number in range(campaign.annotators):
        user, _ = user_model.objects.get_or_create(username=f"sim-{project.pk}-{number}")
        Membership.objects.create(project=project, user=user, role=Membership.Role.ANNOTATOR)
        people.append(
            Annotator(
                user=user,
                rng=np.random.default_rng(campaign.seed * 100 + number),
                noise=campaign.noise,
                leaves=leaves,
                choices_at=children,
                depth=depth,
            )
        )
    evaluation = _Evaluation(project, campaign.eval_images) if campaign.eval_images else None
    tally = Tally()
    rounds = []
    seen_versions = 0
    started = time.perf_counter()
    active = list(people)
    while active:
        for person in list(active):
            lease = annotator_services.queue_next(project=project, user=person.user)
            if lease is None:
                active.remove(person)
                continue
            _answer(project, person, lease, tally)
        versions = ModelVersion.objects.filter(project=project).count()
        if versions > seen_versions or not active:
            seen_versions = versions
            rounds.append(_round_row(project, tally, started, evaluation))
            campaign.log(json.dumps(rounds[-1]))
    items = Item.objects.filter(project=project).count()
    labeled, accuracy = _label_accuracy(project)
    manual_keys, manual_seconds = 0, 0.0
    reference = people[0]
    for item in Item.objects.filter(project=project).select_related("ground_truth__parent"):
        keys, seconds = reference.full_path_cost(item.ground_truth)
        manual_keys, manual_seconds = manual_keys + keys, manual_seconds + seconds
    final = {
        "items": items,
        "labeled": labeled,
        "label_accuracy": round(accuracy, 5),
        "keystrokes": tally.keystrokes,
        "manual_keystrokes": manual_keys,
        "human_seconds": round(tally.seconds, 1),
        "manual_human_seconds": round(manual_seconds, 1),
        "human_annotations": tally.answers,
        "auto_accepted": Annotation.objects.filter(
            project=project, source=Annotation.Source.AUTO
        ).count(),
        "wall_seconds": round(time.perf_counter() - started, 1),
    }
    return {
        "project": project.pk,
        "settings": {
            "strategy": campaign.strategy,
            "budget": campaign.budget,
            "annotators": campaign.annotators,
            "noise": campaign.noise,
            "auto_accept": campaign.auto_accept,
            "batch_size": campaign.batch_size,
            "retrain_every": campaign.retrain_every,
            "backbone": campaign.backbone,
            "weights": str(campaign.weights) if campaign.weights else None,
        },
        "time_model": {
            "keystroke_s": KEY_S,
            "mental_s": MENTAL_S,
            "hick_s_per_bit": HICK_S,
            "glance_s": GLANCE_S,
            "grid_page": GRID_PAGE,
        },
        "rounds": rounds,
        "final": final,
    }


def _backbone_choose(project: Project, campaign: Campaign) -> None:
    """The project's backbone, chosen as a lead would: a weights file is looked for
    where the loop looks for it (``ARBOR_WEIGHTS_DIR``, here the file's folder)."""
    from django.conf import settings

    from learning.embeddings import backbone_choice_set

    if campaign.weights is not None:
        settings.ARBOR_WEIGHTS_DIR = campaign.weights.resolve().parent
    backbone_choice_set(
        project=project,
        name=campaign.backbone or settings.ARBOR_DEFAULT_BACKBONE,
        weights=campaign.weights.name if campaign.weights else "",
        actor=None,
    )


class _Evaluation:
    """Held-out images (an ImageFolder tree), embedded once with the project's backbone
    as the loop embeds its pool, and scored by each new model version's head."""

    def __init__(self, project: Project, folder: Path):
        from learning.core.data import list_image_folder
        from learning.embeddings import backbone_ready
        from learning.labels import ProjectTaxonomy

        self.taxonomy = ProjectTaxonomy.current(project).core
        paths = list_image_folder(folder)
        self.embeddings = backbone_ready(project=project).embed_files(paths)
        self.truth = np.array([self.taxonomy.leaf_names.index(path.parent.name) for path in paths])

    def accuracy(self, version: ModelVersion) -> dict:
        from django.conf import settings

        from learning.core.scoring import score_embeddings
        from learning.core.training import load_head

        head = load_head(Path(settings.MEDIA_ROOT) / version.checkpoint, self.taxonomy).head
        scores = score_embeddings(head, self.embeddings, self.taxonomy)
        return self.taxonomy.evaluate(scores.leaf_probs, self.truth)


def _round_row(project: Project, tally: Tally, started: float, evaluation) -> dict:
    labeled, accuracy = _label_accuracy(project)
    version = model_version_latest(project=project)
    metrics = version.metrics if version else {}
    if version is not None and evaluation is not None:
        measured = evaluation.accuracy(version)
    else:
        measured = metrics.get("gold") or metrics.get("shadow") or {}
    return {
        "model_version": version.version if version else None,
        "human_annotations": tally.answers,
        "keystrokes": tally.keystrokes,
        "human_seconds": round(tally.seconds, 1),
        "auto_accepted": Annotation.objects.filter(
            project=project, source=Annotation.Source.AUTO
        ).count(),
        "labeled": labeled,
        "label_accuracy": round(accuracy, 5),
        "model_accuracy": measured.get("accuracy"),
        "wall_seconds": round(time.perf_counter() - started, 1),
    }
