"""The zero-shot first model: before any label, predictions from the class names alone.

For a project whose backbone is an open_clip model and that has no model version yet,
the pool's kept CLIP image embeddings are scored against the taxonomy's names with
CHiLS (``learning.core.zeroshot``) and written as model version 1, marked
``zero_shot``: the queue shows them as guesses to check, and the first retrain replaces
them. The batch is chosen by the project's strategy, as after any round.
"""

import logging

import numpy as np
from django.db import transaction

from annotator.models import Item, ModelVersion, Project
from learning.core.scoring import scores_from_probabilities
from learning.core.strategies import PoolState, select
from learning.core.zeroshot import (
    chils_leaf_probabilities,
    clip_logit_scale,
    clip_text_encoder,
    node_prompts,
    node_text_embeddings,
)
from learning.embeddings import backbone_choice_get, pool_embeddings
from learning.labels import ProjectTaxonomy
from learning.pipeline import predictions_write

logger = logging.getLogger(__name__)

CLIP_PREFIX = "open_clip:"


def zeroshot_due(*, project: Project) -> bool:
    """Whether the project would get zero-shot predictions: a CLIP backbone, no model yet."""
    return (
        backbone_choice_get(project=project).name.startswith(CLIP_PREFIX)
        and not ModelVersion.objects.filter(project=project).exists()
    )


def zeroshot_round_run(*, project: Project) -> ModelVersion | None:
    """Write the zero-shot model version and its predictions; None when not due."""
    if not zeroshot_due(project=project) or not project.items.exists():
        return None
    import open_clip

    taxonomy = ProjectTaxonomy.current(project)
    core = taxonomy.core
    items = list(
        Item.objects.filter(project=project).order_by("id").values_list("id", "state", "sample")
    )
    item_ids = np.array([row[0] for row in items], dtype=np.int64)
    unlabeled = np.array([row[1] == Item.State.UNLABELED for row in items], dtype=bool)
    sample = np.array([row[2] for row in items], dtype=object)
    embeddings, backbone = pool_embeddings(project=project, item_ids=item_ids)
    clip = backbone.model
    tokenizer = open_clip.get_tokenizer(backbone.spec.name.removeprefix(CLIP_PREFIX))
    text = node_text_embeddings(node_prompts(core), clip_text_encoder(clip, tokenizer))
    leaf_probs = chils_leaf_probabilities(
        embeddings, text, core, logit_scale=clip_logit_scale(clip)
    )
    scores = scores_from_probabilities(leaf_probs, core, embeddings)
    held_out = np.isin(sample, [Item.Sample.SHADOW, Item.Sample.AUDIT])
    pool_rows = np.flatnonzero(unlabeled & ~held_out)
    selection = select(
        project.strategy,
        PoolState(
            taxonomy=core,
            leaf_probs=leaf_probs[pool_rows],
            embeddings=embeddings[pool_rows],
            labeled_embeddings=embeddings[:0],
            labeled_leaf_counts=np.zeros(core.num_leaves, dtype=np.int64),
        ),
        project.batch_size,
        seed=project.pk,
    )
    with transaction.atomic():
        # One first model: a retrain or a second zero-shot call that won the lock wins.
        Project.objects.select_for_update().filter(pk=project.pk).first()
        if ModelVersion.objects.filter(project=project).exists():
            return None
        version = ModelVersion.objects.create(
            project=project,
            taxonomy=taxonomy.taxonomy,
            version=1,
            source=ModelVersion.Source.ZERO_SHOT,
            backbone=backbone.spec.name,
            backbone_weights=backbone.weights,
            metrics={"zero_shot": {"method": "chils", "prompts": len(node_prompts(core)[0])}},
        )
    predictions_write(version, taxonomy, scores, item_ids, unlabeled, sample, pool_rows, selection)
    logger.info("Zero-shot predictions for project %s: %s items", project.pk, len(pool_rows))
    return version
