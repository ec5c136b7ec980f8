"""The labeling guide, Django side: the examples chosen after each retrain, the guide as
the pages read it, and a lead's edits (definitions, pinning and removing examples).

The maths is ``learning.core.guide``; here rows go in and ``GuideExample`` rows come out.
Definitions and examples stay on the nodes they were made for; reads follow the
taxonomy versions' node mappings to the current nodes.
"""

from collections import defaultdict
from typing import Any

import numpy as np
from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.http import Http404

from annotator import selectors
from annotator.exceptions import InvalidInput
from annotator.models import ModelVersion, Project, TaxonomyNode
from annotator.taxonomy.counts import taxonomy_node_forward_map
from learning.core import guide
from learning.models import GuideDefinition, GuideExample

# Typical examples per class, pinned ones included, and classes listed as confused.
EXAMPLES = 6
CONFUSED = 3
Kind = GuideExample.Kind


def _confusion(version: ModelVersion) -> tuple[list[str], np.ndarray] | None:
    """The model's confusion matrix as the dashboard shows it: gold set, else shadow."""
    for sample in ("gold", "shadow"):
        measured = version.metrics.get(sample) or {}
        if measured.get("confusion"):
            return measured["leaves"], np.asarray(measured["confusion"], dtype=np.int64)
    return None


def guide_examples_refresh(
    *, version: ModelVersion, taxonomy, embeddings: np.ndarray, label: np.ndarray, item_ids
) -> int:
    """Choose the guide's examples anew after a retrain; returns how many were chosen.

    ``taxonomy`` is the round's ``ProjectTaxonomy``; ``embeddings``, ``label`` (each
    item's latest human answer as a core node index, -1 for none) and ``item_ids`` are
    the round's rows. Pinned examples stay and take places; removed ones stay out.
    """
    project = version.project
    core = taxonomy.core
    index_of = {node.pk: index for index, node in enumerate(taxonomy.nodes)}
    row_of = {int(item_id): row for row, item_id in enumerate(np.asarray(item_ids).tolist())}
    forward = taxonomy_node_forward_map(project=project)
    kept = GuideExample.objects.filter(project=project).exclude(pinned=False, removed=False)
    excluded: dict[tuple[str, int], set[int]] = defaultdict(set)
    pinned_typical: dict[int, int] = defaultdict(int)
    pinned_pairs = set()
    for example in kept:
        node = index_of.get(forward.get(example.node_id, example.node_id))
        row = row_of.get(example.item_id)
        if node is None or row is None:
            continue
        excluded[(example.kind, node)].add(row)
        if example.pinned and example.kind == Kind.TYPICAL:
            pinned_typical[node] += 1
        elif example.pinned:
            pinned_pairs.add((node, index_of.get(forward.get(example.other_id, example.other_id))))

    members = guide.node_members(label, core)
    typical = guide.typical_examples(
        embeddings,
        members,
        {node: EXAMPLES - pinned_typical[node] for node in members},
        {node: excluded[(Kind.TYPICAL, node)] for node in members},
    )
    chosen = [
        GuideExample(
            project=project,
            node=taxonomy.nodes[node],
            item_id=int(item_ids[row]),
            kind=Kind.TYPICAL,
            rank=rank,
            model_version=version,
        )
        for node, rows in typical.items()
        for rank, row in enumerate(rows.tolist())
    ]
    confusion = _confusion(version)
    if confusion is not None:
        leaves, matrix = confusion
        leaf_nodes = [core.node_index(path) for path in leaves]
        for position, pairs in enumerate(guide.confused_classes(matrix, CONFUSED)):
            node = leaf_nodes[position]
            for rank, (other_position, count) in enumerate(pairs):
                other = leaf_nodes[other_position]
                if (node, other) in pinned_pairs:
                    continue
                row = guide.lookalike_row(
                    embeddings, members, other, node, excluded[(Kind.LOOKALIKE, node)]
                )
                if row is not None:
                    chosen.append(
                        GuideExample(
                            project=project,
                            node=taxonomy.nodes[node],
                            item_id=int(item_ids[row]),
                            kind=Kind.LOOKALIKE,
                            other=taxonomy.nodes[other],
                            confusions=count,
                            rank=rank,
                            model_version=version,
                        )
                    )
    with transaction.atomic():
        GuideExample.objects.filter(project=project, pinned=False, removed=False).delete()
        GuideExample.objects.bulk_create(chosen, ignore_conflicts=True)
    return len(chosen)


def guide_example_describe(example: GuideExample) -> dict[str, Any]:
    """An example as the guide shows it."""
    return {
        "id": example.pk,
        "item": example.item_id,
        "image_url": f"/api/items/{example.item_id}/image/",
        "pinned": example.pinned,
    }


def guide_read(*, project: Project) -> list[dict[str, Any]]:
    """The current taxonomy's nodes, each with its definition, its typical examples
    (pinned first) and the classes it is confused with, each with an example."""
    taxonomy = selectors.taxonomy_current(project=project)
    if taxonomy is None:
        return []
    nodes = list(selectors.taxonomy_nodes(taxonomy=taxonomy))
    by_id = {node.pk: node for node in nodes}
    forward = taxonomy_node_forward_map(project=project)
    definitions: dict[int, GuideDefinition] = {}
    # Oldest first: a definition of the node itself, or the newest one that led to it.
    for definition in GuideDefinition.objects.filter(project=project).order_by("updated_at"):
        node = forward.get(definition.node_id, definition.node_id)
        if definitions.get(node) is None or definitions[node].node_id != node:
            definitions[node] = definition
    typical, lookalikes = defaultdict(list), defaultdict(dict)
    examples = GuideExample.objects.filter(project=project, removed=False).order_by(
        "-pinned", "rank", "id"
    )
    for example in examples:
        node = forward.get(example.node_id, example.node_id)
        if node not in by_id:
            continue
        if example.kind == Kind.TYPICAL:
            if len(typical[node]) < EXAMPLES:
                typical[node].append(guide_example_describe(example))
            continue
        other = by_id.get(forward.get(example.other_id, example.other_id))
        if other is not None and other.pk != node and other.pk not in lookalikes[node]:
            lookalikes[node][other.pk] = {
                "node": other.pk,
                "path": other.path,
                "confusions": example.confusions,
                "example": guide_example_describe(example),
            }
    return [
        {
            "node": node,
            "definition": definitions[node.pk].text if node.pk in definitions else "",
            "examples": typical[node.pk],
            "confused_with": list(lookalikes[node.pk].values()),
        }
        for node in nodes
    ]


def guide_definition_set(
    *, project: Project, node: int | str, text: str, actor: AbstractBaseUser | None
) -> GuideDefinition:
    """Write the definition of a node of the current taxonomy (by id or path)."""
    taxonomy = selectors.taxonomy_current(project=project)
    found: TaxonomyNode | None = (
        selectors.taxonomy_node_resolve(taxonomy=taxonomy, node=node) if taxonomy else None
    )
    if found is None:
        raise InvalidInput(f"No class {node!r} in the current taxonomy.")
    definition, _ = GuideDefinition.objects.update_or_create(
        node=found, defaults={"project": project, "text": text.strip(), "updated_by": actor}
    )
    return definition


def guide_example_get_for_user(*, user: AbstractBaseUser, example_id: int) -> GuideExample:
    """An example of a project the user manages; 404 for everyone else."""
    example = GuideExample.objects.filter(pk=example_id).first()
    if example is None:
        raise Http404("No such example.")
    selectors.project_get_for_user(user=user, project_id=example.project_id, manage=True)
    return example


def guide_example_update(
    *, example: GuideExample, pinned: bool | None = None, removed: bool | None = None
) -> GuideExample:
    """Pin or unpin, remove or restore an example; removing one unpins it."""
    if pinned is None and removed is None:
        raise InvalidInput('Give "pinned" or "removed".')
    if removed is not None:
        example.removed = removed
        example.pinned = example.pinned and not removed
    if pinned is not None:
        if pinned and example.removed:
            raise InvalidInput("A removed example cannot be pinned; restore it first.")
        example.pinned = pinned
    example.save(update_fields=["pinned", "removed"])
    return example
