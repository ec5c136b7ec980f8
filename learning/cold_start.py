"""The first batch before any model: TypiClust's typical points, from the embeddings.

Until the first model the queue's order is random, and a random first batch can miss a
class entirely (the first model then never predicts it, and its calibration distrusts
everything). Once a project's images are embedded and it has no model yet, the
``batch_size`` most typical points of as many clusters (``learning.core.clusters``) go
to the front of the queue, largest cluster first; everything else keeps a random order
behind them. A later import with still no model picks again over the whole pool; the
first model's own priorities replace these.
"""

import numpy as np
from django.db import transaction
from django.db.models.functions import Random

from annotator.models import Item, ModelVersion, Project
from learning.core.clusters import typical_pick
from learning.core.propagation import pca_project
from learning.embeddings import kept_embeddings

# Above every random priority (0..1) and below the first model's batch (2.0).
FIRST, LAST = 1.999, 1.001


def cold_start_prioritize(*, project: Project) -> int:
    """Put the typical points first in a project with no model; how many were moved."""
    if ModelVersion.objects.filter(project=project).exists():
        return 0
    item_ids = np.array(
        Item.objects.filter(project=project, state=Item.State.UNLABELED)
        .order_by("pk")
        .values_list("pk", flat=True),
        dtype=np.int64,
    )
    if not len(item_ids):
        return 0
    embeddings = kept_embeddings(project=project, item_ids=item_ids)
    if embeddings is None:
        return 0
    picked = item_ids[typical_pick(pca_project(embeddings), project.batch_size, seed=project.pk)]
    priorities = np.linspace(FIRST, LAST, len(picked)) if len(picked) > 1 else [FIRST]
    with transaction.atomic():
        # Under the project's lock, as a round writes its model version: a model that
        # appeared meanwhile wins, and a round that starts after this rewrites them all.
        Project.objects.select_for_update().filter(pk=project.pk).first()
        if ModelVersion.objects.filter(project=project).exists():
            return 0
        earlier = Item.objects.filter(project=project, priority__gte=LAST).exclude(pk__in=picked)
        earlier.update(priority=Random())
        Item.objects.bulk_update(
            [
                Item(pk=int(pk), priority=float(priority))
                for pk, priority in zip(picked, priorities, strict=True)
            ],
            ["priority"],
        )
    return len(picked)
