"""The taxonomy page's API: moving a class, the counts per node, and the preview of a
change, which writes nothing and says what saving would do."""

import pytest

from annotator import selectors
from annotator.models import (
    Annotation,
    AuditEvent,
    Item,
    Taxonomy,
    TaxonomyNode,
    TaxonomyNodeMapping,
)
from annotator.taxonomy.counts import taxonomy_node_forward_map
from annotator.taxonomy.versions import taxonomy_version_create
from tests.factories import AnnotationFactory, ModelVersionFactory, PredictionFactory, item_create


def stored_rows() -> dict[str, list[dict]]:
    """The rows a taxonomy change writes."""
    models = (Taxonomy, TaxonomyNode, TaxonomyNodeMapping, Annotation, Item, AuditEvent)
    return {model.__name__: list(model.objects.order_by("pk").values()) for model in models}


def _paths(project) -> list[str]:
    taxonomy = selectors.taxonomy_current(project=project)
    return [node.path for node in selectors.taxonomy_nodes(taxonomy=taxonomy)]


def _labelled(project, user, seed: int, path: str) -> Item:
    item = item_create(project, seed, state=Item.State.LABELED)
    AnnotationFactory(item=item, annotator=user, node=path)
    return item


@pytest.mark.django_db
def test_move_takes_a_class_and_its_answers_to_another_parent(project, lead, annotator):
    item = _labelled(project, annotator, 1, "animal/frog")
    created = taxonomy_version_create(
        project=project,
        actor=lead,
        changes=[{"op": "move", "path": "animal/frog", "parent": "vehicle"}],
    )
    assert "vehicle/frog" in _paths(project) and "animal/frog" not in _paths(project)
    assert item.annotations.get().node.path == "vehicle/frog"
    assert created.items_requeued == 0
    assert {mapping.kind for mapping in created.mappings} == {"same"}


@pytest.mark.django_db
@pytest.mark.parametrize(
    "change, message",
    [
        ({"op": "move", "path": "animal", "parent": "vehicle"}, "top level"),
        ({"op": "move", "path": "animal/cat", "parent": "vehicle/truck"}, "must stay at depth 2"),
        ({"op": "move", "path": "animal/cat", "parent": "animal"}, "already under"),
        ({"op": "move", "path": "animal/cat", "parent": "plant"}, "No class 'plant'"),
    ],
)
def test_bad_moves_are_400(api, project, lead, change, message):
    response = api(lead).post(
        f"/api/projects/{project.id}/taxonomy/versions/", {"changes": [change]}, format="json"
    )
    assert response.status_code == 400
    assert message in response.json()["detail"]
    assert project.taxonomies.count() == 1


@pytest.mark.django_db
def test_a_move_may_not_leave_a_parent_empty(api, project, lead):
    changes = [
        {"op": "move", "path": "vehicle/airplane", "parent": "animal"},
        {"op": "move", "path": "vehicle/truck", "parent": "animal"},
    ]
    response = api(lead).post(
        f"/api/projects/{project.id}/taxonomy/versions/", {"changes": changes}, format="json"
    )
    assert response.status_code == 400
    assert "'vehicle' would be left without classes" in response.json()["detail"]


@pytest.mark.django_db
def test_preview_says_what_a_split_would_do_and_writes_nothing(api, project, lead, annotator):
    for seed in range(3):
        _labelled(project, annotator, seed, "animal/cat")
    _labelled(project, annotator, 5, "animal/dog")
    before = stored_rows()
    changes = [
        {"op": "split", "path": "animal/cat", "into": ["tabby", "siamese"]},
        {"op": "rename", "path": "animal/dog", "new_name": "hound"},
    ]

    response = api(lead).post(
        f"/api/projects/{project.id}/taxonomy/versions/preview/",
        {"changes": changes},
        format="json",
    )

    assert response.status_code == 200, response.json()
    preview = response.json()
    assert preview["version"] == 2
    assert preview["items_requeued"] == 3
    assert preview["annotations_remapped"] == 4
    assert {
        (row["old_path"], row["new_path"], row["kind"], row["answers"])
        for row in preview["remapped"]
    } == {("animal/cat", "animal", "coarsened", 3), ("animal/dog", "animal/hound", "same", 1)}
    paths = [node["path"] for node in preview["nodes"]]
    assert "animal/tabby" in paths and "animal/cat" not in paths
    assert stored_rows() == before, "a preview writes nothing"
    # Saving does what the preview said.
    saved = api(lead).post(
        f"/api/projects/{project.id}/taxonomy/versions/", {"changes": changes}, format="json"
    )
    assert saved.json()["items_requeued"] == preview["items_requeued"]
    assert [node["path"] for node in saved.json()["nodes"]] == paths


@pytest.mark.django_db
def test_preview_of_a_bad_change_is_400(api, project, lead):
    response = api(lead).post(
        f"/api/projects/{project.id}/taxonomy/versions/preview/",
        {"changes": [{"op": "split", "path": "animal", "into": ["a", "b"]}]},
        format="json",
    )
    assert response.status_code == 400
    assert "Only a leaf can be split" in response.json()["detail"]


@pytest.mark.django_db
def test_counts_per_node_add_up_their_subtree(api, project, lead, annotator):
    _labelled(project, annotator, 1, "animal/cat")
    _labelled(project, annotator, 2, "animal/cat")
    _labelled(project, annotator, 3, "animal")  # a coarse-only answer
    auto = item_create(project, 4, state=Item.State.LABELED)
    AnnotationFactory(item=auto, annotator=None, node="vehicle/truck", source="auto")
    taxonomy = selectors.taxonomy_current(project=project)
    model = ModelVersionFactory(project=project, taxonomy=taxonomy)
    open_items = [item_create(project, seed) for seed in (10, 11)]
    for item in open_items:
        PredictionFactory(item=item, model_version=model, predicted_node="animal/dog")
    PredictionFactory(item=auto, model_version=model, predicted_node="vehicle/truck")
    # A later version: the model's predictions on animal/dog are counted where it went.
    taxonomy_version_create(
        project=project,
        actor=lead,
        changes=[{"op": "rename", "path": "animal/dog", "new_name": "hound"}],
    )

    response = api(lead).get(f"/api/projects/{project.id}/taxonomy/counts/")

    assert response.status_code == 200
    body = response.json()
    assert (body["version"], body["model_version"], body["unlabeled"]) == (2, 1, 2)
    counts = {
        node["path"]: (node["human"], node["auto"], node["predicted"], node["left"])
        for node in body["nodes"]
    }
    assert counts["animal/cat"] == (2, 0, 0, 0)
    assert counts["animal"] == (3, 0, 2, 2)
    assert counts["animal/hound"] == (0, 0, 2, 2)
    assert counts["vehicle/truck"] == (0, 1, 1, 0)
    assert counts["vehicle"] == (0, 1, 1, 0)


@pytest.mark.django_db
def test_forward_map_follows_every_version(project, lead):
    first = selectors.taxonomy_current(project=project)
    cat = first.nodes.get(path="animal/cat")
    for change in (
        {"op": "rename", "path": "animal/cat", "new_name": "feline"},
        {"op": "split", "path": "animal/feline", "into": ["tabby", "siamese"]},
    ):
        taxonomy_version_create(project=project, actor=lead, changes=[change])
    current = selectors.taxonomy_current(project=project)
    assert taxonomy_node_forward_map(project=project)[cat.pk] == current.nodes.get(path="animal").pk


@pytest.mark.django_db
def test_counts_query_count_does_not_grow_with_the_tree(
    api, project, lead, django_assert_max_num_queries
):
    with django_assert_max_num_queries(12):
        assert api(lead).get(f"/api/projects/{project.id}/taxonomy/counts/").status_code == 200
