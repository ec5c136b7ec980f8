"""What a taxonomy change would do, before it is saved.

The preview runs the versioning service itself (``taxonomy_version_create``) inside a
transaction that is rolled back, so it can never disagree with what saving does.
"""

from dataclasses import dataclass
from typing import Any

from django.db import transaction
from django.db.models import Count

from annotator import selectors
from annotator.models import Annotation, Project, TaxonomyNode, TaxonomyNodeMapping
from annotator.taxonomy.versions import taxonomy_node_mappings, taxonomy_version_create


@dataclass(frozen=True)
class TaxonomyPreview:
    version: int
    nodes: list[TaxonomyNode]  # the tree as it would be
    # Old nodes whose answers would land elsewhere: renamed, moved, merged or split.
    remapped: list[dict[str, Any]]
    annotations_remapped: int
    items_requeued: int
    ground_truth_cleared: int


def taxonomy_version_preview(*, project: Project, changes: list[Any]) -> TaxonomyPreview:
    """``taxonomy_version_create`` with ``changes``, read and then rolled back: nothing stays."""
    with transaction.atomic():
        previous = selectors.taxonomy_current(project=project)
        answers = dict(
            Annotation.objects.filter(node__taxonomy=previous)
            .values("node_id")
            .annotate(n=Count("id"))
            .values_list("node_id", "n")
        )
        created = taxonomy_version_create(project=project, actor=None, changes=changes)
        remapped = [
            {
                "old_path": mapping.old_node.path,
                "new_path": mapping.new_node.path,
                "kind": mapping.kind,
                "answers": answers.get(mapping.old_node_id, 0),
            }
            for mapping in taxonomy_node_mappings(taxonomy=created.taxonomy)
            if mapping.kind != TaxonomyNodeMapping.Kind.SAME
            or mapping.old_node.path != mapping.new_node.path
        ]
        preview = TaxonomyPreview(
            version=created.taxonomy.version,
            nodes=list(selectors.taxonomy_nodes(taxonomy=created.taxonomy)),
            remapped=remapped,
            annotations_remapped=created.annotations_remapped,
            items_requeued=created.items_requeued,
            ground_truth_cleared=created.ground_truth_cleared,
        )
        transaction.set_rollback(True)
    return preview
