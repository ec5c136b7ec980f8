"""Taxonomies from their JSON or CSV form: nodes, levels and versions."""

import pytest

from annotator.exceptions import ImportRejected
from annotator.taxonomy.creation import taxonomy_create
from tests.factories import ProjectFactory
from tests.learning.core.helpers import THREE_LEVEL, TWO_LEVEL


@pytest.mark.django_db
def test_taxonomy_json_two_level():
    project = ProjectFactory()

    taxonomy = taxonomy_create(project=project, data=TWO_LEVEL)

    assert (taxonomy.version, taxonomy.name, taxonomy.levels) == (
        1,
        "cifar10-2level",
        ["coarse", "fine"],
    )
    nodes = {node.path: node for node in taxonomy.nodes.select_related("parent")}
    assert len(nodes) == 12
    assert [(n.path, n.position) for n in nodes.values() if n.depth == 1] == [
        ("vehicle", 0),
        ("animal", 1),
    ]
    cat = nodes["animal/cat"]
    assert (cat.name, cat.depth, cat.position, cat.is_leaf, cat.parent.path) == (
        "cat",
        2,
        1,
        True,
        "animal",
    )
    assert nodes["vehicle/truck"].position == 3
    assert not nodes["animal"].is_leaf and nodes["animal"].parent is None
    assert sum(node.is_leaf for node in nodes.values()) == 10


@pytest.mark.django_db
def test_taxonomy_json_three_level_is_the_next_version(project):
    taxonomy = taxonomy_create(project=project, data=THREE_LEVEL, name="deeper")

    assert (taxonomy.version, taxonomy.name, taxonomy.levels) == (
        2,
        "deeper",
        ["domain", "group", "class"],
    )
    nodes = {node.path: node for node in taxonomy.nodes.select_related("parent")}
    assert len(nodes) == 2 + 4 + 10
    assert [sum(n.depth == depth for n in nodes.values()) for depth in (1, 2, 3)] == [2, 4, 10]
    dog = nodes["animal/mammal/dog"]
    assert (dog.depth, dog.position, dog.is_leaf, dog.parent.path) == (3, 2, True, "animal/mammal")
    mammal = nodes["animal/mammal"]
    assert (mammal.depth, mammal.position, mammal.is_leaf) == (2, 0, False)
    assert nodes["vehicle/other vehicle"].position == 1
    assert {n.path for n in nodes.values() if n.is_leaf} == {
        path for path in nodes if path.count("/") == 2
    }


@pytest.mark.django_db
def test_taxonomy_csv_with_header_and_level_names():
    project = ProjectFactory()
    csv_text = "path\nvehicle/truck\n vehicle/ship \n\nanimal/cat\n"

    taxonomy = taxonomy_create(project=project, csv_text=csv_text, levels=["coarse", "fine"])

    assert taxonomy.levels == ["coarse", "fine"]
    nodes = taxonomy.nodes.order_by("id")
    assert [(n.path, n.depth, n.position, n.is_leaf) for n in nodes] == [
        ("vehicle", 1, 0, False),
        ("animal", 1, 1, False),
        ("vehicle/truck", 2, 0, True),
        ("vehicle/ship", 2, 1, True),
        ("animal/cat", 2, 0, True),
    ]


@pytest.mark.django_db
def test_taxonomy_csv_without_header_names_the_levels():
    project = ProjectFactory()

    taxonomy = taxonomy_create(project=project, csv_text="a/b/c\na/b/d\ne/f/g\n")

    assert taxonomy.levels == ["level1", "level2", "level3"]
    assert taxonomy.nodes.count() == 7
    assert taxonomy.nodes.get(path="a/b/d").depth == 3


@pytest.mark.django_db
def test_taxonomy_needs_exactly_one_source():
    with pytest.raises(ImportRejected, match="either"):
        taxonomy_create(project=ProjectFactory(), data=TWO_LEVEL, csv_text="a/b")
