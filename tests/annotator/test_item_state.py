"""One rule for an item's state, shared by answers, undo and revoke."""

import pytest

from annotator.items import items_state_recompute
from annotator.models import Annotation, Item
from learning.services import auto_labels_revoke
from tests.factories import UserFactory, item_create, node_of


def _answer(item, source, annotator=None):
    return Annotation.objects.create(
        project=item.project,
        item=item,
        annotator=annotator,
        node=node_of(item.project, "animal/cat"),
        source=source,
    )


@pytest.fixture
def overlap(project):
    project.annotations_per_item = 2
    project.save(update_fields=["annotations_per_item"])
    return project


def test_an_item_is_labeled_by_enough_people_or_an_auto_label(overlap):
    item = item_create(overlap, 1)
    _answer(item, "manual", UserFactory())
    items_state_recompute(item_ids=[item.pk])
    assert Item.objects.get(pk=item.pk).state == "unlabeled"  # one of two answers

    _answer(item, "confirmed", UserFactory())
    items_state_recompute(item_ids=[item.pk])
    assert Item.objects.get(pk=item.pk).state == "labeled"

    other = item_create(overlap, 2)
    _answer(other, "auto")
    items_state_recompute(item_ids=[other.pk])
    assert Item.objects.get(pk=other.pk).state == "labeled"


def test_revoking_an_auto_label_requeues_an_item_that_still_needs_a_second_person(overlap, lead):
    item = item_create(overlap, 1, state=Item.State.LABELED)
    _answer(item, "manual", UserFactory())
    _answer(item, "auto")

    assert auto_labels_revoke(project=overlap, actor=lead) == 1

    # One human answer of the two the project asks for: back in the queue, as undo has it.
    assert Item.objects.get(pk=item.pk).state == "unlabeled"
