"""Taxonomy input checked before anything is stored: each mistake named."""

import pytest

from annotator.exceptions import ImportRejected
from annotator.models import Taxonomy
from annotator.taxonomy.creation import taxonomy_create
from annotator.taxonomy.parsing import taxonomy_json_parse
from tests.factories import ProjectFactory
from tests.learning.core.helpers import TWO_LEVEL


def deep_tree(depth: int) -> dict | list:
    return ["leaf"] if depth == 1 else {"n": deep_tree(depth - 1)}


INVALID_JSON_TAXONOMIES = [
    ({"levels": ["a"]}, '"tree"'),
    ({"tree": "cat"}, "must be an object"),
    ({"tree": {"vehicle": []}}, "No children under 'vehicle'"),
    ({"tree": {}}, "No children under the top level"),
    ({"tree": {"": ["cat"]}}, "has an empty name"),
    ({"tree": {"animal": ["cat", "  "]}}, "has an empty name"),
    ({"tree": {"animal/mammal": ["cat"]}}, "may not contain '/'"),
    ({"tree": {"animal": ["cat", "dog", "cat"]}}, "'animal/cat' appears twice"),
    ({"tree": {"animal": ["cat", "cat "]}}, "'animal/cat' appears twice"),
    ({"tree": {"animal": ["cat", {"dog": ["x"]}]}}, "leaf names only"),
    ({"tree": {"animal": ["cat", 7]}}, "leaf names only"),
    ({"levels": ["a", "b", "c"], "tree": {"animal": ["cat"]}}, "2 level(s) deep but 3"),
    ({"tree": {"vehicle": {"road": ["truck"]}, "animal": ["cat"]}}, "same depth"),
    ({"tree": deep_tree(11)}, "deeper than 10 levels"),
    ({"tree": {"x" * 201: ["cat"]}}, "at most 200 characters"),
    ({"levels": "coarse,fine", "tree": {"a": ["b"]}}, "list of level names"),
    ({"levels": ["x", "x"], "tree": {"a": ["b"]}}, "same name"),
    ({"levels": ["x", ""], "tree": {"a": ["b"]}}, "level name is empty"),
]


INVALID_CSV_TAXONOMIES = [
    ("", "no classes"),
    ("path\n", "no classes"),
    ("vehicle//truck\n", "has an empty name"),
    ("vehicle/truck/\n", "has an empty name"),
    ("a/b\na/c\na/b\n", "'a/b' appears twice"),
    ("animal/cat\nanimal/cat/persian\n", "'animal/cat' is a leaf and also has children"),
    ("animal\nanimal/cat\n", "'animal' is a leaf and also has children"),
    ("animal/cat\nvehicle\n", "same depth"),
    ("a/b,c/d\n", "Row 1: write one path per row"),
    ("a/b\n,a/c\n", "Row 2: write one path per row"),
]


@pytest.mark.django_db
@pytest.mark.parametrize(("data", "message"), INVALID_JSON_TAXONOMIES)
def test_taxonomy_json_invalid(data, message):
    project = ProjectFactory()

    with pytest.raises(ImportRejected) as raised:
        taxonomy_create(project=project, data=data)

    assert message in str(raised.value)
    assert not Taxonomy.objects.filter(project=project).exists()


@pytest.mark.django_db
@pytest.mark.parametrize(("csv_text", "message"), INVALID_CSV_TAXONOMIES)
def test_taxonomy_csv_invalid(csv_text, message):
    project = ProjectFactory()

    with pytest.raises(ImportRejected) as raised:
        taxonomy_create(project=project, csv_text=csv_text)

    assert message in str(raised.value)
    assert not Taxonomy.objects.filter(project=project).exists()


@pytest.mark.django_db
def test_taxonomy_csv_level_names_must_match_the_depth():
    with pytest.raises(ImportRejected, match=r"2 level\(s\) deep but 1"):
        taxonomy_create(project=ProjectFactory(), csv_text="a/b\n", levels=["only"])


@pytest.mark.django_db
def test_taxonomy_size_is_limited(monkeypatch):
    monkeypatch.setattr("annotator.taxonomy.parsing.MAX_TAXONOMY_NODES", 5)

    with pytest.raises(ImportRejected, match="more than 5 nodes"):
        taxonomy_create(project=ProjectFactory(), data=TWO_LEVEL)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('{"tree": {"a": ["b"], "a": ["c"]}}', "'a' appears twice"),
        ('{"tree": ', "not valid JSON"),
        ('["a", "b"]', "must be an object"),
    ],
)
def test_taxonomy_json_parse_rejects(text, message):
    with pytest.raises(ImportRejected, match=message):
        taxonomy_json_parse(text)
