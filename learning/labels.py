"""The project's taxonomy and human labels as the core sees them: node indices.

No torch here: the web process asks these too (a fine-tune needs enough labels).
"""

from dataclasses import dataclass

from annotator.models import Annotation, Project, Taxonomy, TaxonomyNode
from annotator.selectors import taxonomy_current
from learning.core.taxonomy import Taxonomy as CoreTaxonomy


@dataclass
class ProjectTaxonomy:
    """The project's current taxonomy as the core sees it, and the way back to rows."""

    taxonomy: Taxonomy
    core: CoreTaxonomy
    nodes: list[TaxonomyNode]  # by core node index

    @classmethod
    def load(cls, taxonomy: Taxonomy) -> "ProjectTaxonomy":
        by_parent: dict[int | None, list[TaxonomyNode]] = {}
        for node in taxonomy.nodes.order_by("position", "id"):
            by_parent.setdefault(node.parent_id, []).append(node)
        leaf_paths: list[str] = []

        def walk(parent_id: int | None) -> None:
            for node in by_parent.get(parent_id, []):
                if node.is_leaf:
                    leaf_paths.append(node.path)
                walk(node.pk)

        walk(None)
        core = CoreTaxonomy.from_leaf_paths(leaf_paths, levels=taxonomy.levels or None)
        by_path = {node.path: node for nodes in by_parent.values() for node in nodes}
        return cls(taxonomy, core, [by_path[node.path] for node in core.nodes])

    @classmethod
    def current(cls, project: Project) -> "ProjectTaxonomy":
        """The project's latest taxonomy version."""
        return cls.load(taxonomy_current(project=project))

    def core_index(self, node: TaxonomyNode) -> int:
        return self.core.node_index(node.path)


def human_labels(project: Project, taxonomy: ProjectTaxonomy) -> dict[int, int]:
    """The latest human answer of each item as a core node index of ``taxonomy``: item id
    -> index. Answers on another taxonomy version are left out."""
    rows = (
        Annotation.objects.filter(project=project)
        .exclude(source=Annotation.Source.AUTO)
        .order_by("item_id", "created_at", "id")
        .values_list("item_id", "node_id")
    )
    index = {node.pk: position for position, node in enumerate(taxonomy.nodes)}
    return {item: index[node] for item, node in dict(rows).items() if node in index}
