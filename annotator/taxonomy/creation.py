"""A taxonomy from its JSON or CSV form, stored as the project's next version."""

from collections.abc import Sequence
from typing import Any

from django.db import transaction
from django.db.models import Max

from annotator.exceptions import ImportRejected
from annotator.models import Project, Taxonomy, TaxonomyNode
from annotator.taxonomy.parsing import (
    MAX_NAME_LENGTH,
    csv_leaf_paths,
    json_leaf_paths,
    levels_clean,
    taxonomy_plan,
)


def taxonomy_create(
    *,
    project: Project,
    data: dict[str, Any] | None = None,
    csv_text: str | None = None,
    name: str = "",
    levels: Sequence[str] | None = None,
) -> Taxonomy:
    """The project's next taxonomy version, from the JSON format or CSV rows of paths.

    JSON: ``{"name": ..., "levels": [...], "tree": {...}}`` where ``tree`` maps each node
    to its children, an object at inner levels and a list just above the leaves.
    CSV: one leaf path per row (``vehicle/truck``), an optional ``path`` header row; the
    levels are named by ``levels`` or ``level1..N``.
    """
    if (data is None) == (csv_text is None):
        raise ImportRejected("Give the taxonomy either as JSON or as CSV.")
    if data is not None:
        if not isinstance(data, dict) or "tree" not in data:
            raise ImportRejected('The taxonomy JSON must be an object with a "tree".')
        plans, level_names = taxonomy_plan(
            json_leaf_paths(data["tree"]), levels_clean(data.get("levels"))
        )
        name = name or str(data.get("name") or "")
    else:
        plans, level_names = taxonomy_plan(
            csv_leaf_paths(csv_text or ""), levels_clean(list(levels) if levels else None)
        )

    with transaction.atomic():
        # The project row lock serialises concurrent uploads, so versions never collide.
        Project.objects.select_for_update().get(pk=project.pk)
        latest = project.taxonomies.aggregate(latest=Max("version"))["latest"] or 0
        taxonomy = Taxonomy.objects.create(
            project=project, version=latest + 1, name=name[:MAX_NAME_LENGTH], levels=level_names
        )
        created: dict[tuple[str, ...], TaxonomyNode] = {}
        for depth in range(1, len(level_names) + 1):
            level = [plan for plan in plans if len(plan.path) == depth]
            nodes = TaxonomyNode.objects.bulk_create(
                TaxonomyNode(
                    taxonomy=taxonomy,
                    parent=created.get(plan.path[:-1]),
                    name=plan.path[-1],
                    path="/".join(plan.path),
                    depth=depth,
                    position=plan.position,
                    is_leaf=plan.is_leaf,
                )
                for plan in level
            )
            created.update((plan.path, node) for plan, node in zip(level, nodes, strict=True))
    return taxonomy
