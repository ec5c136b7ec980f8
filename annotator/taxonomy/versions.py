"""Taxonomy versions: add, rename, merge and split classes without losing answers.

A change never edits a taxonomy in place. It builds the project's next version (new
nodes, new ids), records where every old node went (``TaxonomyNodeMapping``) and moves
the answers along, in one transaction with an audit event. Model versions keep their
foreign key to the version they were trained on, so they keep naming it.

Changes are applied in order, each naming nodes by their path after the ones before:

- ``{"op": "add", "parent": "animal", "name": "bird"}``: a new leaf. Every leaf sits at
  the same depth (per-level models need an ancestor at every level), so the parent is
  a node just above the leaf level (``""`` in a one-level taxonomy).
- ``{"op": "rename", "path": "animal/cat", "new_name": "feline"}``: answers follow the
  node, and its descendants' paths change with it.
- ``{"op": "move", "path": "animal/frog", "parent": "amphibian"}``: the node and its
  subtree go under another parent at the same depth (leaves stay at the leaf level);
  answers follow it. A parent may not be left without children.
- ``{"op": "merge", "paths": ["animal/dog", "animal/wolf"], "into": "animal/canine"}``:
  siblings become one node; ``into`` is one of them or a new sibling name. Answers on
  any of them become answers on the merged node. Merged inner nodes pool their
  children, and children with the same name are merged in turn.
- ``{"op": "split", "path": "animal/cat", "into": ["tabby", "siamese"]}``: a leaf is
  replaced by new sibling leaves (the leaf level keeps its depth). Nobody can tell which
  new leaf an old answer meant, so old answers become coarse-only answers at the parent
  (``animal``), their items go back to the queue to be asked again (state unlabeled),
  and ground truth on the split leaf is cleared. A top-level leaf has no parent to keep
  its answers at and cannot be split.
"""

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.db.models import Count, OuterRef, QuerySet, Subquery

from annotator import selectors
from annotator.audit import audit_record
from annotator.exceptions import InvalidInput
from annotator.models import (
    Annotation,
    AuditEvent,
    Item,
    Project,
    Taxonomy,
    TaxonomyNode,
    TaxonomyNodeMapping,
)
from annotator.taxonomy.creation import taxonomy_create
from annotator.taxonomy.parsing import MAX_NAME_LENGTH, MAX_PATH_LENGTH, MAX_TAXONOMY_NODES

MAX_CHANGES = 1_000
Kind = TaxonomyNodeMapping.Kind
# When an old node's answers move twice, the stronger change of meaning is the one kept.
_KIND_RANK = {Kind.SAME: 0, Kind.MERGED: 1, Kind.COARSENED: 2}


@dataclass(eq=False)
class _Draft:
    """A node of the version being built; the root is a nameless stand-in for the top."""

    name: str
    parent: "_Draft | None" = None
    children: list["_Draft"] = field(default_factory=list)
    # Old node id -> how that node's answers arrive here.
    sources: dict[int, str] = field(default_factory=dict)

    @property
    def path(self) -> str:
        names = []
        node = self
        while node.parent is not None:
            names.append(node.name)
            node = node.parent
        return "/".join(reversed(names))

    @property
    def depth(self) -> int:
        return 0 if self.parent is None else self.parent.depth + 1

    def child(self, name: str) -> "_Draft | None":
        return next((child for child in self.children if child.name == name), None)

    def absorb(self, sources: dict[int, str], kind: str) -> None:
        for node_id, current in sources.items():
            previous = self.sources.get(node_id, Kind.SAME)
            self.sources[node_id] = max(previous, current, kind, key=_KIND_RANK.__getitem__)

    def walk(self) -> Iterator["_Draft"]:
        """Every node below this one, parents before children, siblings in order."""
        level = self.children
        while level:
            yield from level
            level = [child for node in level for child in node.children]


def _tree_build(nodes: list[TaxonomyNode]) -> _Draft:
    root = _Draft(name="")
    drafts: dict[int, _Draft] = {}
    for node in nodes:  # parents come first
        parent = drafts[node.parent_id] if node.parent_id else root
        draft = _Draft(name=node.name, parent=parent, sources={node.pk: Kind.SAME})
        parent.children.append(draft)
        drafts[node.pk] = draft
    return root


def _text(change: dict[str, Any], key: str) -> str:
    value = change.get(key)
    if not isinstance(value, str) or not value.strip("/ "):
        raise InvalidInput(f'"{key}" must be a non-empty text.')
    return value.strip("/ ")


def _texts(change: dict[str, Any], key: str) -> list[str]:
    values = change.get(key)
    if not isinstance(values, list) or len(values) < 2:
        raise InvalidInput(f'"{key}" must be a list of at least two names or paths.')
    return [_text({key: value}, key) for value in values]


def _name_check(name: str) -> str:
    if "/" in name:
        raise InvalidInput(f"'{name}': a name may not contain '/'.")
    if len(name) > MAX_NAME_LENGTH:
        raise InvalidInput(f"A name may have at most {MAX_NAME_LENGTH} characters.")
    return name


def _find(root: _Draft, path: str) -> _Draft:
    node = root
    for name in path.split("/"):
        node = node.child(name.strip())
        if node is None:
            raise InvalidInput(f"No class '{path}' in the taxonomy.")
    return node


def _free_name(parent: _Draft, name: str, *, replacing: tuple[_Draft, ...] = ()) -> str:
    existing = parent.child(name)
    if existing is not None and existing not in replacing:
        where = f"under '{parent.path}'" if parent.parent else "at the top level"
        raise InvalidInput(f"There is already a class '{name}' {where}.")
    return name


def _add(root: _Draft, leaf_depth: int, change: dict[str, Any]) -> None:
    parent_path = change.get("parent") or ""
    if not isinstance(parent_path, str):
        raise InvalidInput('"parent" must be a path such as animal, or "" for the top level.')
    parent = _find(root, parent_path.strip("/ ")) if parent_path.strip("/ ") else root
    if parent.depth != leaf_depth - 1:
        raise InvalidInput(
            f"New classes are leaves, at depth {leaf_depth}: give a parent at depth "
            f"{leaf_depth - 1}, not '{parent.path or '(top level)'}'."
        )
    name = _free_name(parent, _name_check(_text(change, "name")))
    parent.children.append(_Draft(name=name, parent=parent))


def _rename(root: _Draft, leaf_depth: int, change: dict[str, Any]) -> None:
    node = _find(root, _text(change, "path"))
    new_name = _name_check(_text(change, "new_name"))
    if new_name == node.name:
        raise InvalidInput(f"'{node.path}' is already called '{new_name}'.")
    node.name = _free_name(node.parent, new_name)


def _move(root: _Draft, leaf_depth: int, change: dict[str, Any]) -> None:
    node = _find(root, _text(change, "path"))
    if node.parent is root:
        raise InvalidInput(f"'{node.path}' is at the top level: there is nothing to move it under.")
    parent = _find(root, _text(change, "parent"))
    if parent.depth != node.parent.depth:
        raise InvalidInput(
            f"'{node.path}' must stay at depth {node.depth}: give a new parent at depth "
            f"{node.parent.depth}, not '{parent.path}'."
        )
    if parent is node.parent:
        raise InvalidInput(f"'{node.path}' is already under '{parent.path}'.")
    if len(node.parent.children) == 1:
        raise InvalidInput(f"'{node.parent.path}' would be left without classes; merge it instead.")
    _free_name(parent, node.name)
    node.parent.children.remove(node)
    node.parent = parent
    parent.children.append(node)


def _merge_into(target: _Draft, other: _Draft) -> None:
    """Pool ``other`` into ``target``: its answers, and its children (same names merge)."""
    target.absorb(target.sources, Kind.MERGED)
    target.absorb(other.sources, Kind.MERGED)
    for child in other.children:
        twin = target.child(child.name)
        if twin is None:
            child.parent = target
            target.children.append(child)
        else:
            _merge_into(twin, child)


def _merge(root: _Draft, leaf_depth: int, change: dict[str, Any]) -> None:
    nodes = [_find(root, path) for path in _texts(change, "paths")]
    if len(set(nodes)) != len(nodes):
        raise InvalidInput("A class is named twice in the merge.")
    parent = nodes[0].parent
    stranger = next((node for node in nodes if node.parent is not parent), None)
    if stranger is not None:
        raise InvalidInput(
            f"Only siblings can be merged: '{nodes[0].path}' and '{stranger.path}' "
            "have different parents."
        )
    into_parent, _, into_name = _text(change, "into").rpartition("/")
    if into_parent != parent.path:
        raise InvalidInput(
            f'"into" must be a sibling of the merged classes, under '
            f"'{parent.path or '(top level)'}'."
        )
    target = parent.child(_free_name(parent, _name_check(into_name), replacing=tuple(nodes)))
    if target is None:
        target = nodes[0]
        target.name = into_name
    for node in nodes:
        if node is not target:
            parent.children.remove(node)
            _merge_into(target, node)


def _split(root: _Draft, leaf_depth: int, change: dict[str, Any]) -> None:
    node = _find(root, _text(change, "path"))
    if node.children:
        raise InvalidInput(f"Only a leaf can be split; '{node.path}' has children.")
    parent = node.parent
    if parent is root:
        raise InvalidInput(
            f"'{node.path}' is at the top level: its answers would have no coarser class "
            "to stay at, so it cannot be split."
        )
    names = [_name_check(name) for name in _texts(change, "into")]
    if len(set(names)) != len(names):
        raise InvalidInput("The new classes of a split need different names.")
    for name in names:
        _free_name(parent, name, replacing=(node,))
    index = parent.children.index(node)
    parent.children[index : index + 1] = [_Draft(name=name, parent=parent) for name in names]
    parent.absorb(node.sources, Kind.COARSENED)


_OPERATIONS = {
    "add": _add,
    "rename": _rename,
    "move": _move,
    "merge": _merge,
    "split": _split,
}


def _changes_apply(root: _Draft, leaf_depth: int, changes: list[Any]) -> None:
    if not isinstance(changes, list) or not changes:
        raise InvalidInput("Give at least one change.")
    if len(changes) > MAX_CHANGES:
        raise InvalidInput(f"At most {MAX_CHANGES} changes at once.")
    for number, change in enumerate(changes, start=1):
        operation = _OPERATIONS.get(change.get("op")) if isinstance(change, dict) else None
        if operation is None:
            raise InvalidInput(
                f'Change {number}: give an object with "op" one of {", ".join(_OPERATIONS)}.'
            )
        try:
            operation(root, leaf_depth, change)
        except InvalidInput as error:
            raise InvalidInput(f"Change {number} ({change['op']}): {error}") from None
    nodes = list(root.walk())
    if len(nodes) > MAX_TAXONOMY_NODES:
        raise InvalidInput(f"The taxonomy would have more than {MAX_TAXONOMY_NODES:,} nodes.")
    too_long = next((node for node in nodes if len(node.path) > MAX_PATH_LENGTH), None)
    if too_long is not None:
        raise InvalidInput(f"A path may have at most {MAX_PATH_LENGTH} characters.")


def _nodes_create(taxonomy: Taxonomy, root: _Draft) -> dict[_Draft, TaxonomyNode]:
    created: dict[_Draft, TaxonomyNode] = {}
    level = list(enumerate(root.children))
    depth = 1
    while level:
        nodes = TaxonomyNode.objects.bulk_create(
            TaxonomyNode(
                taxonomy=taxonomy,
                parent=created.get(draft.parent),
                name=draft.name,
                path=draft.path,
                depth=depth,
                position=position,
                is_leaf=not draft.children,
            )
            for position, draft in level
        )
        created.update(zip((draft for _, draft in level), nodes, strict=True))
        level = [child for _, draft in level for child in enumerate(draft.children)]
        depth += 1
    return created


@dataclass(frozen=True)
class TaxonomyVersion:
    taxonomy: Taxonomy
    mappings: list[TaxonomyNodeMapping]
    annotations_remapped: int
    items_requeued: int
    ground_truth_cleared: int


def taxonomy_version_create(
    *, project: Project, actor: AbstractBaseUser | None, changes: list[Any]
) -> TaxonomyVersion:
    """The project's next taxonomy version, made by ``changes``; answers are moved to it.

    See the module docstring for the operations and what happens to the answers.
    """
    with transaction.atomic():
        # The project row lock serialises version changes (and taxonomy_create).
        Project.objects.select_for_update().get(pk=project.pk)
        previous = selectors.taxonomy_current(project=project)
        if previous is None:
            raise InvalidInput("This project has no taxonomy yet; create one first.")
        root = _tree_build(list(selectors.taxonomy_nodes(taxonomy=previous)))
        _changes_apply(root, len(previous.levels), changes)

        taxonomy = Taxonomy.objects.create(
            project=project,
            version=previous.version + 1,
            name=previous.name,
            levels=previous.levels,
        )
        created = _nodes_create(taxonomy, root)
        mappings = TaxonomyNodeMapping.objects.bulk_create(
            TaxonomyNodeMapping(taxonomy=taxonomy, old_node_id=old_id, new_node=node, kind=kind)
            for draft, node in created.items()
            for old_id, kind in draft.sources.items()
        )
        coarsened = [m.old_node_id for m in mappings if m.kind == Kind.COARSENED]
        # Before the remap below, while the answers still point at the split leaves.
        items_requeued = Item.objects.filter(
            pk__in=Annotation.objects.filter(node_id__in=coarsened).values("item_id")
        ).update(state=Item.State.UNLABELED)
        ground_truth_cleared = Item.objects.filter(
            project=project, ground_truth_id__in=coarsened
        ).update(ground_truth=None)
        new_node = Subquery(
            TaxonomyNodeMapping.objects.filter(
                taxonomy=taxonomy, old_node_id=OuterRef("node_id")
            ).values("new_node_id")[:1]
        )
        annotations_remapped = Annotation.objects.filter(node__taxonomy=previous).update(
            node_id=new_node
        )
        Item.objects.filter(project=project, ground_truth__taxonomy=previous).update(
            ground_truth_id=Subquery(
                TaxonomyNodeMapping.objects.filter(
                    taxonomy=taxonomy, old_node_id=OuterRef("ground_truth_id")
                ).values("new_node_id")[:1]
            )
        )
        audit_record(
            actor=actor,
            project=project,
            action=AuditEvent.Action.TAXONOMY_VERSION,
            before={"version": previous.version},
            after={
                "version": taxonomy.version,
                "changes": changes,
                "annotations_remapped": annotations_remapped,
                "items_requeued": items_requeued,
                "ground_truth_cleared": ground_truth_cleared,
            },
            target=taxonomy,
        )
    return TaxonomyVersion(
        taxonomy=taxonomy,
        mappings=mappings,
        annotations_remapped=annotations_remapped,
        items_requeued=items_requeued,
        ground_truth_cleared=ground_truth_cleared,
    )


def taxonomy_initial_create(
    *,
    project: Project,
    actor: AbstractBaseUser | None,
    data: dict[str, Any] | None = None,
    csv_text: str | None = None,
    name: str = "",
    levels: list[str] | None = None,
) -> Taxonomy:
    """The project's first taxonomy (``taxonomy_create``), with an audit event."""
    with transaction.atomic():
        taxonomy = taxonomy_create(
            project=project, data=data, csv_text=csv_text, name=name, levels=levels
        )
        audit_record(
            actor=actor,
            project=project,
            action=AuditEvent.Action.TAXONOMY_CREATE,
            before=None,
            after={"version": taxonomy.version, "levels": taxonomy.levels},
            target=taxonomy,
        )
    return taxonomy


def taxonomy_version_list(*, project: Project) -> QuerySet[Taxonomy]:
    """Every version, newest first, with its ``node_count``."""
    return project.taxonomies.annotate(node_count=Count("nodes")).order_by("-version")


def taxonomy_version_describe(*, taxonomies: Sequence[Taxonomy]) -> list[dict[str, Any]]:
    """The versions of ``taxonomy_version_list`` (a page of them), each with who made it
    and the changes that made it."""
    if not taxonomies:
        return []
    events = {
        event.target_id: event
        for event in AuditEvent.objects.filter(
            project_id=taxonomies[0].project_id,
            action__in=[AuditEvent.Action.TAXONOMY_CREATE, AuditEvent.Action.TAXONOMY_VERSION],
            target_type=Taxonomy._meta.model_name,
            target_id__in=[str(taxonomy.pk) for taxonomy in taxonomies],
        )
    }
    versions = []
    for taxonomy in taxonomies:
        event = events.get(str(taxonomy.pk))
        versions.append(
            {
                "id": taxonomy.pk,
                "version": taxonomy.version,
                "name": taxonomy.name,
                "levels": taxonomy.levels,
                "nodes": taxonomy.node_count,
                "created_at": taxonomy.created_at,
                "created_by": event.actor_username if event else None,
                "changes": (event.after or {}).get("changes", []) if event else [],
            }
        )
    return versions


def taxonomy_node_mappings(*, taxonomy: Taxonomy) -> QuerySet[TaxonomyNodeMapping]:
    """Where each node of the previous version went in ``taxonomy``."""
    return taxonomy.node_mappings.select_related("old_node", "new_node").order_by(
        "old_node__depth", "old_node__position", "old_node_id"
    )
