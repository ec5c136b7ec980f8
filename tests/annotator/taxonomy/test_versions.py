"""Taxonomy versions: each change makes the next version and moves the answers along."""

import pytest

from annotator import selectors, services
from annotator.exceptions import InvalidInput
from annotator.models import AuditEvent, Item, TaxonomyNode, TaxonomyNodeMapping
from annotator.taxonomy.versions import taxonomy_version_create
from tests.factories import (
    AnnotationFactory,
    MembershipFactory,
    ModelVersionFactory,
    ProjectFactory,
    item_create,
    taxonomy_build,
)
from tests.helpers import answer


def _node(project, path: str) -> TaxonomyNode:
    return selectors.taxonomy_node_resolve(
        taxonomy=selectors.taxonomy_current(project=project), node=path
    )


def _labelled(project, user, seed: int, path: str, ground_truth: str | None = None) -> Item:
    """An item answered with ``path`` by ``user``, with ``ground_truth`` if given."""
    item = item_create(
        project,
        seed,
        state=Item.State.LABELED,
        ground_truth=_node(project, ground_truth) if ground_truth else None,
    )
    AnnotationFactory(item=item, annotator=user, node=path)
    return item


def _answer_path(item: Item) -> str:
    return item.annotations.get().node.path


def _paths(project) -> list[str]:
    taxonomy = selectors.taxonomy_current(project=project)
    return [node.path for node in selectors.taxonomy_nodes(taxonomy=taxonomy)]


def _version(project, lead, *changes):
    return taxonomy_version_create(project=project, actor=lead, changes=list(changes))


@pytest.mark.django_db
def test_rename_moves_answers_and_ground_truth_to_the_new_version(project, lead, annotator):
    cat = _labelled(project, annotator, 1, "animal/cat", ground_truth="animal/cat")
    coarse = _labelled(project, annotator, 2, "animal")
    first = selectors.taxonomy_current(project=project)
    model = ModelVersionFactory(project=project, taxonomy=first)

    created = _version(project, lead, {"op": "rename", "path": "animal", "new_name": "fauna"})

    taxonomy = created.taxonomy
    assert taxonomy.version == 2 and taxonomy.levels == first.levels
    assert selectors.taxonomy_current(project=project) == taxonomy
    assert _paths(project) == [
        "vehicle",
        "fauna",
        "vehicle/airplane",
        "vehicle/truck",
        "fauna/cat",
        "fauna/dog",
        "fauna/frog",
    ]
    cat.refresh_from_db()
    assert _answer_path(cat) == "fauna/cat"
    assert cat.annotations.get().node.taxonomy == taxonomy
    assert cat.ground_truth.taxonomy == taxonomy and cat.ground_truth.path == "fauna/cat"
    assert _answer_path(coarse) == "fauna"
    assert cat.state == Item.State.LABELED
    assert created.annotations_remapped == 2 and created.items_requeued == 0
    assert {m.kind for m in created.mappings} == {"same"}
    assert len(created.mappings) == first.nodes.count()
    # The old version and the model trained on it are left as they were.
    assert first.nodes.filter(path="animal/cat").exists()
    model.refresh_from_db()
    assert model.taxonomy == first


@pytest.mark.django_db
def test_add_creates_a_leaf(project, lead, annotator):
    item = _labelled(project, annotator, 1, "animal/dog")

    _version(project, lead, {"op": "add", "parent": "animal", "name": "bird"})

    assert "animal/bird" in _paths(project)
    assert _node(project, "animal/bird").is_leaf
    assert _node(project, "animal/bird").position == 3
    assert _answer_path(item) == "animal/dog"


@pytest.mark.django_db
def test_merge_leaves_pools_their_answers(project, lead, annotator):
    dog = _labelled(project, annotator, 1, "animal/dog", ground_truth="animal/dog")
    frog = _labelled(project, annotator, 2, "animal/frog", ground_truth="animal/frog")
    cat = _labelled(project, annotator, 3, "animal/cat")

    created = _version(
        project,
        lead,
        {"op": "merge", "paths": ["animal/dog", "animal/frog"], "into": "animal/other"},
    )

    assert _paths(project)[-2:] == ["animal/cat", "animal/other"]
    assert _answer_path(dog) == _answer_path(frog) == "animal/other"
    frog.refresh_from_db()
    assert frog.ground_truth.path == "animal/other"
    assert _answer_path(cat) == "animal/cat"
    kinds = {m.old_node.path: m.kind for m in created.mappings}
    assert kinds["animal/dog"] == kinds["animal/frog"] == "merged"
    assert kinds["animal/cat"] == "same"
    assert frog.state == Item.State.LABELED


@pytest.mark.django_db
def test_merge_into_one_of_the_merged_keeps_its_name(project, lead, annotator):
    frog = _labelled(project, annotator, 1, "animal/frog")
    _version(
        project, lead, {"op": "merge", "paths": ["animal/dog", "animal/frog"], "into": "animal/dog"}
    )
    assert _paths(project)[-2:] == ["animal/cat", "animal/dog"]
    assert _answer_path(frog) == "animal/dog"


@pytest.mark.django_db
def test_merging_inner_nodes_pools_children_and_merges_namesakes(lead, annotator):
    project = ProjectFactory()
    taxonomy_build(project, {"a": ["x", "y"], "b": ["x", "z"]})
    MembershipFactory(project=project, user=lead, role="lead")
    from_a = _labelled(project, annotator, 1, "a/x")
    from_b = _labelled(project, annotator, 2, "b/x")
    coarse_b = _labelled(project, annotator, 3, "b")
    only_b = _labelled(project, annotator, 4, "b/z")

    _version(project, lead, {"op": "merge", "paths": ["a", "b"], "into": "a"})

    assert _paths(project) == ["a", "a/x", "a/y", "a/z"]
    assert _answer_path(from_a) == _answer_path(from_b) == "a/x"
    assert _answer_path(coarse_b) == "a"
    assert _answer_path(only_b) == "a/z"
    assert all(node.depth == 2 for node in _node(project, "a").children.all())


@pytest.mark.django_db
def test_split_keeps_old_answers_at_the_parent_and_asks_again(project, lead, annotator):
    cat = _labelled(project, annotator, 1, "animal/cat", ground_truth="animal/cat")
    dog = _labelled(project, annotator, 2, "animal/dog", ground_truth="animal/dog")

    created = _version(
        project, lead, {"op": "split", "path": "animal/cat", "into": ["tabby", "siamese"]}
    )

    assert _paths(project)[-4:] == ["animal/tabby", "animal/siamese", "animal/dog", "animal/frog"]
    cat.refresh_from_db()
    dog.refresh_from_db()
    assert _answer_path(cat) == "animal"  # a coarse-only answer now
    assert cat.state == Item.State.UNLABELED
    assert cat.ground_truth is None
    assert _answer_path(dog) == "animal/dog" and dog.state == Item.State.LABELED
    assert dog.ground_truth.path == "animal/dog"
    assert (created.items_requeued, created.ground_truth_cleared) == (1, 1)
    [coarsened] = [m for m in created.mappings if m.kind == "coarsened"]
    assert (coarsened.old_node.path, coarsened.new_node.path) == ("animal/cat", "animal")
    # The item is asked again, at the new fine level, by someone who has not answered it.
    colleague = MembershipFactory(project=project).user
    lease = services.queue_next(project=project, user=colleague)
    assert lease.item == cat
    given = answer(project=project, user=colleague, node="animal/siamese", lease=lease)
    assert given.node == _node(project, "animal/siamese")


@pytest.mark.django_db
def test_changes_apply_in_order(project, lead, annotator):
    item = _labelled(project, annotator, 1, "animal/cat")
    created = _version(
        project,
        lead,
        {"op": "rename", "path": "animal/cat", "new_name": "feline"},
        {"op": "add", "parent": "animal", "name": "cat"},
        {"op": "merge", "paths": ["animal/feline", "animal/dog"], "into": "animal/pet"},
    )
    assert _paths(project)[-3:] == ["animal/pet", "animal/frog", "animal/cat"]
    assert _answer_path(item) == "animal/pet"
    assert created.taxonomy.version == 2
    event = AuditEvent.objects.get(action="taxonomy.version")
    assert event.actor == lead
    assert event.before == {"version": 1}
    assert event.after["version"] == 2 and len(event.after["changes"]) == 3
    assert event.target_id == str(created.taxonomy.pk)


@pytest.mark.django_db
@pytest.mark.parametrize(
    "changes, message",
    [
        ([], "at least one change"),
        ([{"op": "delete", "path": "animal"}], '"op" one of'),
        ([{"path": "animal"}], '"op" one of'),
        ([{"op": "rename", "path": "animal/lion", "new_name": "x"}], "No class 'animal/lion'"),
        ([{"op": "rename", "path": "animal/cat", "new_name": "dog"}], "already a class 'dog'"),
        ([{"op": "rename", "path": "animal/cat", "new_name": "a/b"}], "may not contain '/'"),
        ([{"op": "rename", "path": "animal/cat"}], '"new_name" must be'),
        ([{"op": "add", "parent": "", "name": "plant"}], "give a parent at depth 1"),
        ([{"op": "add", "parent": "animal", "name": "cat"}], "already a class 'cat'"),
        (
            [{"op": "merge", "paths": ["animal/cat", "vehicle/truck"], "into": "animal/cat"}],
            "Only siblings can be merged",
        ),
        ([{"op": "merge", "paths": ["animal/cat"], "into": "animal/cat"}], "at least two"),
        (
            [{"op": "merge", "paths": ["animal/cat", "animal/dog"], "into": "animal/frog"}],
            "already a class 'frog'",
        ),
        (
            [{"op": "merge", "paths": ["animal/cat", "animal/dog"], "into": "vehicle/pet"}],
            "must be a sibling",
        ),
        ([{"op": "split", "path": "animal", "into": ["a", "b"]}], "Only a leaf can be split"),
        ([{"op": "split", "path": "animal/cat", "into": ["dog", "lion"]}], "already a class"),
        ([{"op": "split", "path": "animal/cat", "into": ["lion", "lion"]}], "different names"),
        (
            [
                {"op": "rename", "path": "animal", "new_name": "fauna"},
                {"op": "rename", "path": "animal/cat", "new_name": "kitty"},
            ],
            "Change 2 (rename): No class 'animal/cat'",
        ),
    ],
)
def test_bad_changes_are_400_and_change_nothing(api, project, lead, changes, message):
    response = api(lead).post(
        f"/api/projects/{project.id}/taxonomy/versions/", {"changes": changes}, format="json"
    )
    assert response.status_code == 400, response.json()
    assert message in response.json()["detail"]
    assert project.taxonomies.count() == 1
    assert not AuditEvent.objects.exists()


@pytest.mark.django_db
def test_a_top_level_leaf_cannot_be_split(lead):
    project = ProjectFactory()
    taxonomy_build(project, ["cat", "dog"], levels=("class",))
    with pytest.raises(InvalidInput, match="top level"):
        _version(project, lead, {"op": "split", "path": "cat", "into": ["a", "b"]})


@pytest.mark.django_db
def test_api_creates_and_lists_versions(api, project, lead, admin_user, annotator):
    item = _labelled(project, annotator, 1, "animal/frog")
    url = f"/api/projects/{project.id}/taxonomy/versions/"

    created = api(lead).post(
        url,
        {"changes": [{"op": "rename", "path": "animal/frog", "new_name": "toad"}]},
        format="json",
    )
    remapped_to = item.annotations.get().node_id
    api(admin_user).post(
        url, {"changes": [{"op": "add", "parent": "vehicle", "name": "ship"}]}, format="json"
    )
    listed = api(lead).get(url).json()["results"]

    assert created.status_code == 201
    body = created.json()
    assert body["version"] == 2 and body["annotations_remapped"] == 1
    assert "animal/toad" in [node["path"] for node in body["nodes"]]
    frog = next(m for m in body["mappings"] if m["old_path"] == "animal/frog")
    assert frog["new_path"] == "animal/toad" and frog["kind"] == "same"
    assert frog["new_node"] == remapped_to
    assert [(v["version"], v["created_by"], v["nodes"]) for v in listed] == [
        (3, "admin", 8),
        (2, lead.username, 7),
        (1, None, 7),
    ]
    assert listed[1]["changes"] == [{"op": "rename", "path": "animal/frog", "new_name": "toad"}]
    current = api(annotator).get(f"/api/projects/{project.id}/taxonomy/").json()
    assert current["version"] == 3


@pytest.mark.django_db
def test_a_project_without_taxonomy_gets_400(api, lead):
    project = MembershipFactory(user=lead, role="lead").project
    response = api(lead).post(
        f"/api/projects/{project.id}/taxonomy/versions/",
        {"changes": [{"op": "add", "parent": "", "name": "x"}]},
        format="json",
    )
    assert response.status_code == 400
    assert "no taxonomy yet" in response.json()["detail"]


@pytest.mark.django_db
def test_mapping_rows_cover_every_old_node(project, lead):
    created = _version(
        project, lead, {"op": "split", "path": "vehicle/truck", "into": ["van", "lorry"]}
    )
    old_nodes = set(project.taxonomies.get(version=1).nodes.values_list("id", flat=True))
    mapped = set(
        TaxonomyNodeMapping.objects.filter(taxonomy=created.taxonomy).values_list(
            "old_node_id", flat=True
        )
    )
    assert mapped == old_nodes
