"""Reading a taxonomy with what hangs on it: answers, auto-accepted labels and the latest
model's predictions per node, and where an older version's nodes went."""

from typing import Any

from django.db.models import Count, Q

from annotator import selectors
from annotator.models import Annotation, Item, Prediction, Project, Taxonomy, TaxonomyNodeMapping

COUNTS = ("human", "auto", "predicted", "left")


def taxonomy_node_forward_map(*, project: Project) -> dict[int, int]:
    """Every node id of an older version of the project's taxonomy -> the node of the
    current version it became (a split leaf: its parent). One query for all versions;
    ``selectors.taxonomy_node_follow`` answers the same for one node."""
    rows = (
        TaxonomyNodeMapping.objects.filter(taxonomy__project=project)
        .order_by("-taxonomy__version")
        .values_list("old_node_id", "new_node_id")
    )
    forward: dict[int, int] = {}
    for old, new in rows:  # newest first: where ``new`` went later is known already
        forward[old] = forward.get(new, new)
    return forward


def taxonomy_node_counts(*, project: Project, taxonomy: Taxonomy) -> dict[str, Any]:
    """Per node of ``taxonomy``, counted over its subtree: ``human`` answers, ``auto``
    accepted labels, items the latest model ``predicted`` there, and of those the ones
    ``left`` (still unlabeled). A few queries, whatever the size of the tree."""
    nodes = list(selectors.taxonomy_nodes(taxonomy=taxonomy))
    own = {node.pk: dict.fromkeys(COUNTS, 0) for node in nodes}
    answers = (
        Annotation.objects.filter(project=project)
        .values("node_id")
        .annotate(
            human=Count("id", filter=~Q(source=Annotation.Source.AUTO)),
            auto=Count("id", filter=Q(source=Annotation.Source.AUTO)),
        )
    )
    for row in answers:
        if row["node_id"] in own:
            own[row["node_id"]].update(human=row["human"], auto=row["auto"])
    model = selectors.model_version_latest(project=project)
    if model is not None:
        # A model trained on an older version predicts that version's nodes.
        forward = taxonomy_node_forward_map(project=project) if model.taxonomy != taxonomy else {}
        predictions = (
            Prediction.objects.filter(model_version=model)
            .values("predicted_node_id")
            .annotate(
                predicted=Count("id"),
                left=Count("id", filter=Q(item__state=Item.State.UNLABELED)),
            )
        )
        for row in predictions:
            node_id = forward.get(row["predicted_node_id"], row["predicted_node_id"])
            if node_id in own:
                own[node_id]["predicted"] += row["predicted"]
                own[node_id]["left"] += row["left"]
    totals = {node.pk: dict(own[node.pk]) for node in nodes}
    for node in reversed(nodes):  # children before parents: add each subtree upwards
        if node.parent_id in totals:
            for name in COUNTS:
                totals[node.parent_id][name] += totals[node.pk][name]
    for node in nodes:  # as ``annotate`` would: the counts on the rows
        for name, value in totals[node.pk].items():
            setattr(node, name, value)
    unlabeled = Item.objects.filter(project=project, state=Item.State.UNLABELED).count()
    return {
        "model_version": model.version if model else None,
        "unlabeled": unlabeled,
        "nodes": nodes,
    }
