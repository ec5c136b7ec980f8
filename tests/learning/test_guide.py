"""The labeling guide: examples refreshed after a retrain (pins kept, removals kept out),
definitions that follow the taxonomy's versions, and its API."""

import numpy as np
import pytest

from annotator import selectors
from annotator.models import Item
from annotator.taxonomy.versions import taxonomy_version_create
from learning.guide import guide_examples_refresh, guide_read
from learning.labels import ProjectTaxonomy
from learning.models import GuideDefinition, GuideExample
from tests.factories import AnnotationFactory, ModelVersionFactory, item_create

LEAVES = ["vehicle/airplane", "vehicle/truck", "animal/cat", "animal/dog", "animal/frog"]


def _round(project, per_leaf=8, confusion=None):
    """A project with ``per_leaf`` answered items per leaf, and what a round has in scope:
    one embedding direction per leaf, its 7th and 8th items off towards other classes."""
    taxonomy = ProjectTaxonomy.current(project)
    rng = np.random.default_rng(0)
    item_ids, label, embeddings = [], [], []
    for number, leaf in enumerate(LEAVES):
        for copy in range(per_leaf):
            item = item_create(project, number * 100 + copy, state=Item.State.LABELED)
            AnnotationFactory(item=item, node=leaf)
            item_ids.append(item.pk)
            label.append(taxonomy.core.node_index(leaf))
            axes = np.eye(len(LEAVES))
            point = axes[number] * 10 + rng.normal(0, 0.1, len(LEAVES))
            if copy >= 6:  # two outliers, off towards other classes
                point += 6 * axes[(number + copy - 5) % len(LEAVES)]
            embeddings.append(point)
    metrics = {}
    if confusion is not None:
        metrics["gold"] = {"n": 10, "leaves": LEAVES, "confusion": confusion}
    version = ModelVersionFactory(project=project, metrics=metrics)
    return {
        "version": version,
        "taxonomy": taxonomy,
        "embeddings": np.array(embeddings),
        "label": np.array(label),
        "item_ids": np.array(item_ids),
    }


def _confusion():
    matrix = np.eye(len(LEAVES), dtype=int) * 5
    matrix[2, 3] = 3  # cats taken for dogs
    return matrix.tolist()


def _examples(project, path, kind="typical"):
    return list(
        GuideExample.objects.filter(project=project, node__path=path, kind=kind, removed=False)
        .order_by("-pinned", "rank")
        .values_list("item__original_name", flat=True)
    )


@pytest.mark.django_db
def test_refresh_picks_typical_items_and_lookalikes(project):
    round_ = _round(project, confusion=_confusion())
    guide_examples_refresh(**round_)

    cats = GuideExample.objects.filter(node__path="animal/cat", kind="typical").order_by("rank")
    assert cats.count() == 6
    # The noisiest copies (6 and 7 of 8) are the least typical: left out.
    seeds = [example.item.content_hash for example in cats]
    noisy = {Item.objects.get(pk=round_["item_ids"][2 * 8 + copy]).content_hash for copy in (6, 7)}
    assert not noisy & set(seeds)
    assert GuideExample.objects.filter(node__path="animal", kind="typical").count() == 6
    lookalike = GuideExample.objects.get(node__path="animal/cat", kind="lookalike")
    assert lookalike.other.path == "animal/dog" and lookalike.confusions == 3
    assert lookalike.item.annotations.get().node.path == "animal/dog"
    assert GuideExample.objects.get(node__path="animal/dog", kind="lookalike").other.path == (
        "animal/cat"
    )


@pytest.mark.django_db
def test_pinned_examples_stay_and_removed_ones_stay_out(project):
    round_ = _round(project)
    guide_examples_refresh(**round_)
    first, second = GuideExample.objects.filter(node__path="animal/cat").order_by("rank")[:2]
    GuideExample.objects.filter(pk=first.pk).update(removed=True)
    GuideExample.objects.filter(pk=second.pk).update(pinned=True)

    guide_examples_refresh(**round_)

    cats = GuideExample.objects.filter(node__path="animal/cat", removed=False)
    assert cats.count() == 6
    assert cats.filter(pinned=True).get().item_id == second.item_id
    assert not cats.filter(item_id=first.item_id).exists()
    assert GuideExample.objects.filter(pk=first.pk, removed=True).exists()


@pytest.mark.django_db
def test_definitions_and_examples_follow_the_taxonomy_versions(project, lead):
    guide_examples_refresh(**_round(project, confusion=_confusion()))
    cat = selectors.taxonomy_current(project=project).nodes.get(path="animal/cat")
    GuideDefinition.objects.create(project=project, node=cat, text="Small, pointed ears.")
    taxonomy_version_create(
        project=project,
        actor=lead,
        changes=[{"op": "rename", "path": "animal/cat", "new_name": "feline"}],
    )

    guide = {entry["node"].path: entry for entry in guide_read(project=project)}

    assert guide["animal/feline"]["definition"] == "Small, pointed ears."
    assert len(guide["animal/feline"]["examples"]) == 6
    assert [row["path"] for row in guide["animal/feline"]["confused_with"]] == ["animal/dog"]
    assert guide["animal/dog"]["confused_with"][0]["path"] == "animal/feline"
    assert guide["vehicle/truck"]["definition"] == ""


@pytest.mark.django_db
def test_guide_api_reads_for_members_and_writes_for_leads(api, project, lead, annotator):
    guide_examples_refresh(**_round(project, per_leaf=3))
    url = f"/api/projects/{project.id}/guide/"

    written = api(lead).patch(url, {"node": "animal/cat", "definition": "  A cat. "}, format="json")
    assert written.status_code == 204
    body = api(annotator).get(url).json()
    cat = next(entry for entry in body if entry["node"]["path"] == "animal/cat")
    assert cat["definition"] == "A cat."
    assert len(cat["examples"]) == 3
    assert cat["examples"][0]["image_url"] == f"/api/items/{cat['examples'][0]['item']}/image/"
    assert api(annotator).get(cat["examples"][0]["image_url"]).status_code == 200

    refused = api(annotator).patch(url, {"node": "animal/cat", "definition": "x"}, format="json")
    assert refused.status_code == 404
    unknown = api(lead).patch(url, {"node": "animal/lion", "definition": "x"}, format="json")
    assert unknown.status_code == 400 and "animal/lion" in unknown.json()["detail"]
    too_long = api(lead).patch(url, {"node": "animal/cat", "definition": "x" * 2001}, format="json")
    assert too_long.status_code == 400


@pytest.mark.django_db
def test_a_lead_pins_and_removes_examples(api, project, lead, annotator, outsider):
    guide_examples_refresh(**_round(project, per_leaf=3))
    example = GuideExample.objects.filter(node__path="animal/cat").first()
    url = f"/api/guide-examples/{example.pk}/"

    assert api(lead).patch(url, {"pinned": True}, format="json").json()["pinned"] is True
    assert api(lead).patch(url, {"removed": True}, format="json").status_code == 200
    example.refresh_from_db()
    assert (example.pinned, example.removed) == (False, True)
    refused = api(lead).patch(url, {"pinned": True}, format="json")
    assert refused.status_code == 400 and "restore it first" in refused.json()["detail"]
    assert api(lead).patch(url, {}, format="json").status_code == 400
    for other in (annotator, outsider):
        assert api(other).patch(url, {"removed": False}, format="json").status_code == 404
    example.refresh_from_db()
    assert example.removed
    guide = api(annotator).get(f"/api/projects/{project.id}/guide/").json()
    cat = next(entry for entry in guide if entry["node"]["path"] == "animal/cat")
    assert example.pk not in [shown["id"] for shown in cat["examples"]]
