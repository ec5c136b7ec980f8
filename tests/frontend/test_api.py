"""The endpoints the pages add: undo an answer while its lease holds, dashboard stats."""

import datetime as dt
import tracemalloc

import pytest
from django.utils import timezone

from annotator import selectors, services
from annotator.models import Annotation, Assignment, Item, Membership
from tests.factories import (
    MembershipFactory,
    ModelVersionFactory,
    PredictionFactory,
    UserFactory,
    item_create,
    items_bulk_create,
)
from tests.helpers import answer


@pytest.fixture
def answered(project, annotator):
    item_create(project, 1)
    return answer(project=project, user=annotator, idempotency_key="k1")


@pytest.mark.django_db
def test_undo_deletes_the_answer_and_reopens_the_lease(api, answered, annotator):
    response = api(annotator).post(f"/api/annotations/{answered.pk}/undo/")

    assert response.status_code == 200
    assert response.json()["lease"]["id"] == str(answered.assignment_id)
    assert not Annotation.objects.filter(pk=answered.pk).exists()
    item = Item.objects.get(pk=answered.item_id)
    assert item.state == Item.State.UNLABELED
    assert item.lease_expires_at is not None
    assert Assignment.objects.get(pk=answered.assignment_id).state == Assignment.State.ACTIVE


@pytest.mark.django_db
def test_after_undo_the_same_lease_takes_a_new_answer(api, answered, annotator):
    client = api(annotator)
    client.post(f"/api/annotations/{answered.pk}/undo/")

    again = client.post(
        f"/api/items/{answered.item_id}/annotations/",
        {"node": "animal/dog", "lease": str(answered.assignment_id), "idempotency_key": "k2"},
        format="json",
    )

    assert again.status_code == 201
    assert Annotation.objects.get(item_id=answered.item_id).node.path == "animal/dog"
    assert Item.objects.get(pk=answered.item_id).state == Item.State.LABELED


@pytest.mark.django_db
def test_undo_after_the_lease_ended_is_409(api, answered, annotator):
    Assignment.objects.filter(pk=answered.assignment_id).update(
        expires_at=timezone.now() - dt.timedelta(seconds=1)
    )

    response = api(annotator).post(f"/api/annotations/{answered.pk}/undo/")

    assert response.status_code == 409
    assert Annotation.objects.filter(pk=answered.pk).exists()


@pytest.mark.django_db
def test_undo_twice_is_404_the_answer_is_gone(api, answered, annotator):
    client = api(annotator)
    assert client.post(f"/api/annotations/{answered.pk}/undo/").status_code == 200
    assert client.post(f"/api/annotations/{answered.pk}/undo/").status_code == 404


@pytest.mark.django_db
def test_a_lead_cannot_undo_someone_elses_answer(api, answered, lead):
    response = api(lead).post(f"/api/annotations/{answered.pk}/undo/")

    assert response.status_code == 403
    assert Annotation.objects.filter(pk=answered.pk).exists()


@pytest.mark.django_db
def test_undo_with_overlap_keeps_the_other_answer(project, annotator):
    project.annotations_per_item = 2
    project.save()
    colleague = MembershipFactory(project=project).user
    item_create(project, 1)
    answers = []
    for user in (annotator, colleague):
        answers.append(answer(project=project, user=user, idempotency_key=f"k-{user.pk}"))
    assert Item.objects.get().state == Item.State.LABELED

    services.annotation_undo(annotation=answers[1], user=colleague)

    assert list(Annotation.objects.values_list("annotator", flat=True)) == [annotator.pk]
    assert Item.objects.get().state == Item.State.UNLABELED


@pytest.fixture
def overlapped(project, annotator):
    """With two answers per item: the annotator's answer, then a colleague's lease on the
    same item, which still needs a second person."""
    project.annotations_per_item = 2
    project.save()
    item_create(project, 1)
    given = answer(project=project, user=annotator, idempotency_key="k1")
    colleague = MembershipFactory(project=project).user
    leased = services.queue_next(project=project, user=colleague)
    assert leased.item.pk == given.item_id
    return given, leased.assignment


@pytest.mark.django_db
def test_undo_while_a_colleague_holds_the_item_is_409_and_changes_nothing(
    api, overlapped, annotator
):
    given, colleague_lease = overlapped

    response = api(annotator).post(f"/api/annotations/{given.pk}/undo/")

    assert response.status_code == 409
    assert "colleague" in response.json()["detail"]
    assert Annotation.objects.filter(pk=given.pk).exists()
    assert Assignment.objects.get(pk=given.assignment_id).state == Assignment.State.SUBMITTED
    colleague_lease.refresh_from_db()
    assert colleague_lease.state == Assignment.State.ACTIVE
    item = Item.objects.get(pk=given.item_id)
    assert item.lease_expires_at == colleague_lease.expires_at


@pytest.mark.django_db
def test_undo_after_a_colleagues_lease_ran_out_reopens_ones_own(api, overlapped, annotator):
    given, colleague_lease = overlapped
    # Run out, but not yet marked so: that happens when the item is handed out again.
    Assignment.objects.filter(pk=colleague_lease.pk).update(
        expires_at=timezone.now() - dt.timedelta(seconds=1)
    )

    response = api(annotator).post(f"/api/annotations/{given.pk}/undo/")

    assert response.status_code == 200
    assert not Annotation.objects.filter(pk=given.pk).exists()
    own = Assignment.objects.get(pk=given.assignment_id)
    assert own.state == Assignment.State.ACTIVE
    assert Assignment.objects.get(pk=colleague_lease.pk).state == Assignment.State.EXPIRED
    assert Item.objects.get(pk=given.item_id).lease_expires_at == own.expires_at


@pytest.mark.django_db
def test_stats_by_source_throughput_and_agreement(api, project, lead):
    first, second = (
        MembershipFactory(project=project, role=Membership.Role.ANNOTATOR).user for _ in range(2)
    )
    taxonomy = project.taxonomies.get()
    model = ModelVersionFactory(project=project, taxonomy=taxonomy)
    cat, dog = taxonomy.nodes.get(path="animal/cat"), taxonomy.nodes.get(path="animal/dog")
    project.annotations_per_item = 2
    project.save()
    items = [item_create(project, seed) for seed in range(3)]
    for item in items:
        PredictionFactory(item=item, model_version=model, predicted_node=cat)
    # Both answer every item; the second disagrees on the last one.
    for user, nodes in ((first, [cat, cat, dog]), (second, [cat, cat, cat])):
        for node in nodes:
            answer(project=project, user=user, node=node, duration_ms=36_000)

    stats = api(lead).get(f"/api/projects/{project.id}/stats/").json()

    assert stats["labels_by_source"]["corrected"] + stats["labels_by_source"]["confirmed"] == 6
    rows = {row["username"]: row for row in stats["annotators"]}
    assert rows[first.username]["answers"] == 3
    assert rows[first.username]["items_per_hour"] == 100.0  # 3 answers in 108 s
    # On the split item the most recent answer (the second's, cat) wins the tie.
    assert rows[first.username]["agreement"] == pytest.approx(2 / 3)
    assert rows[second.username]["agreement"] == 1.0


@pytest.mark.django_db
def test_stats_of_a_new_project(api, project, lead):
    stats = api(lead).get(f"/api/projects/{project.id}/stats/").json()
    assert stats == {
        "labels_by_source": {"manual": 0, "confirmed": 0, "corrected": 0, "auto": 0},
        "annotators": [],
    }


def _answered_in_bulk(project, users, first: int, count: int) -> None:
    """Items ``first`` to ``first + count`` of the project, each answered by every user."""
    cat = project.taxonomies.get().nodes.get(path="animal/cat")
    items = items_bulk_create(project, range(first, first + count), state=Item.State.LABELED)
    Annotation.objects.bulk_create(
        Annotation(project=project, item=item, annotator=user, node=cat, source="manual")
        for item in items
        for user in users
    )


def _stats_peak_memory(project) -> tuple[list[dict], int]:
    tracemalloc.start()
    try:
        stats = selectors.annotator_stats_list(project=project)
        return stats, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


@pytest.mark.django_db
def test_stats_memory_does_not_grow_with_the_votes(project, monkeypatch):
    monkeypatch.setattr(selectors, "VOTE_CHUNK_SIZE", 100)
    users = [UserFactory(), UserFactory()]
    _answered_in_bulk(project, users, 0, 1000)
    small, small_peak = _stats_peak_memory(project)
    _answered_in_bulk(project, users, 1000, 5000)

    large, large_peak = _stats_peak_memory(project)

    assert [row["compared"] for row in small] == [1000, 1000]
    assert [(row["compared"], row["agreement"]) for row in large] == [(6000, 1.0)] * 2
    # Six times the votes, read a chunk at a time: about the same memory. (Reading them
    # all at once grew by about 4.8 MB here; what the first call caches varies by a
    # fraction of that with what ran before.)
    assert large_peak - small_peak < 500_000, (small_peak, large_peak)


@pytest.mark.django_db
def test_disagreements_list_split_items_with_their_final_label(api, project, lead):
    project.annotations_per_item = 2
    project.save()
    first, second = (MembershipFactory(project=project).user for _ in range(2))
    item_create(project, 1), item_create(project, 2)
    for user, paths in ((first, ["animal/cat", "animal/cat"]), (second, ["animal/cat", "animal"])):
        for path in paths:
            answer(project=project, user=user, node=path)

    rows = api(lead).get(f"/api/projects/{project.id}/disagreements/").json()

    split = Annotation.objects.get(node__path="animal").item_id
    assert [row["item"] for row in rows] == [split]
    assert [answer["path"] for answer in rows[0]["answers"]] == ["animal/cat", "animal"]
    # A coarse-only answer supports animal, not cat: half agree at the fine level.
    assert (rows[0]["label"], rows[0]["agreement"]) == ("animal/cat", 0.5)
