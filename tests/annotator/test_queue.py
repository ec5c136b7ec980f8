import datetime as dt
import threading
from collections import Counter

import pytest
from django.db import connection
from django.utils import timezone

from annotator import services
from annotator.exceptions import TooManyLeases
from annotator.models import Annotation, Assignment, Item, Membership
from tests.factories import MembershipFactory, item_create, items_bulk_create
from tests.helpers import answer


def _items(project, count: int) -> list[Item]:
    return [item_create(project, seed) for seed in range(count)]


@pytest.mark.django_db
def test_next_follows_priority_and_returns_lease(api, project, annotator):
    low, high, middle = (
        item_create(project, seed, priority=p) for seed, p in enumerate((0.1, 0.9, 0.5))
    )

    response = api(annotator).post(f"/api/projects/{project.id}/queue/next/")

    assert response.status_code == 200
    body = response.json()
    assert body["item"]["id"] == high.id
    assert body["item"]["image_url"].endswith(f"/api/items/{high.id}/image/")
    assert body["prediction"] is None
    lease = Assignment.objects.get(pk=body["lease"]["id"])
    assert lease.annotator == annotator and lease.item == high
    assert (
        api(annotator).post(f"/api/projects/{project.id}/queue/next/").json()["item"]["id"]
        == middle.id
    )


@pytest.mark.django_db
def test_next_is_204_when_nothing_is_left(api, project, annotator):
    item_create(project, 1, state=Item.State.LABELED)
    assert api(annotator).post(f"/api/projects/{project.id}/queue/next/").status_code == 204


@pytest.mark.django_db
def test_expired_lease_is_handed_out_again(project, annotator):
    item = item_create(project, 1)
    other = MembershipFactory(project=project).user
    first = services.queue_next(project=project, user=annotator)
    assert services.queue_next(project=project, user=other) is None

    Assignment.objects.filter(pk=first.assignment.pk).update(
        expires_at=timezone.now() - dt.timedelta(seconds=1)
    )
    Item.objects.filter(pk=item.pk).update(
        lease_expires_at=timezone.now() - dt.timedelta(seconds=1)
    )
    second = services.queue_next(project=project, user=other)

    assert second.item == item
    first.assignment.refresh_from_db()
    assert first.assignment.state == Assignment.State.EXPIRED


@pytest.mark.django_db
def test_release_puts_item_back(api, project, annotator):
    item = item_create(project, 1)
    lease = api(annotator).post(f"/api/projects/{project.id}/queue/next/").json()["lease"]

    assert api(annotator).post(f"/api/leases/{lease['id']}/release/").status_code == 204
    assert api(annotator).post(f"/api/leases/{lease['id']}/release/").status_code == 409
    assert services.queue_next(project=project, user=annotator).item == item


@pytest.mark.django_db
def test_budget_counts_leases_and_annotations(api, project, annotator):
    _items(project, 5)
    project.max_human_annotations = 2
    project.save()
    client = api(annotator)
    first = client.post(f"/api/projects/{project.id}/queue/next/").json()
    assert client.post(f"/api/projects/{project.id}/queue/next/").status_code == 200
    assert client.post(f"/api/projects/{project.id}/queue/next/").status_code == 204

    client.post(
        f"/api/items/{first['item']['id']}/annotations/",
        {"node": "animal/cat", "lease": first["lease"]["id"]},
        format="json",
    )
    assert client.post(f"/api/projects/{project.id}/queue/next/").status_code == 204
    assert Annotation.objects.filter(project=project).count() == 1


@pytest.mark.django_db
def test_daily_quota_is_per_annotator(api, project, annotator):
    _items(project, 5)
    project.daily_quota_per_annotator = 1
    project.save()
    colleague = MembershipFactory(project=project, role=Membership.Role.ANNOTATOR).user

    assert api(annotator).post(f"/api/projects/{project.id}/queue/next/").status_code == 200
    assert api(annotator).post(f"/api/projects/{project.id}/queue/next/").status_code == 204
    assert api(colleague).post(f"/api/projects/{project.id}/queue/next/").status_code == 200


@pytest.mark.django_db
def test_one_person_holds_at_most_the_cap_of_open_leases(api, project, annotator, settings):
    settings.ARBOR_MAX_OPEN_LEASES = 2
    _items(project, 5)
    client = api(annotator)
    url = f"/api/projects/{project.id}/queue/next/"
    first = client.post(url).json()
    assert client.post(url).status_code == 200

    refused = client.post(url)

    # Not a 204: the queue is not empty, the person must answer or skip first.
    assert refused.status_code == 409
    assert "answer or skip" in refused.json()["detail"]
    assert Assignment.objects.filter(annotator=annotator).count() == 2
    colleague = MembershipFactory(project=project).user
    assert api(colleague).post(url).status_code == 200
    elsewhere = MembershipFactory(user=annotator).project  # the cap is per project
    item_create(elsewhere, 9)
    assert api(annotator).post(f"/api/projects/{elsewhere.id}/queue/next/").status_code == 200
    # An answer makes room, and so does a lease that ran out.
    client.post(
        f"/api/items/{first['item']['id']}/annotations/",
        {"node": "animal/cat", "lease": first["lease"]["id"]},
        format="json",
    )
    assert client.post(url).status_code == 200
    assert client.post(url).status_code == 409
    Assignment.objects.filter(project=project, annotator=annotator).update(
        expires_at=timezone.now() - dt.timedelta(seconds=1)
    )
    assert client.post(url).status_code == 200


def _run_annotators(project, users) -> tuple[list[int], list[Exception]]:
    """One thread per user, each taking and answering items until the queue is empty."""
    results, errors = [], []
    threads = [
        threading.Thread(target=_work, args=(project, user, results, errors)) for user in users
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results, errors


def _work(project, user, results, errors):
    try:
        while (lease := services.queue_next(project=project, user=user)) is not None:
            results.append(lease.item.pk)
            answer(
                project=project,
                user=user,
                lease=lease,
                idempotency_key=f"{user.pk}-{lease.item.pk}",
            )
    except Exception as error:  # surfaced by the test below
        errors.append(error)
    finally:
        connection.close()  # each thread has its own connection


@pytest.mark.django_db(transaction=True)
def test_sixteen_annotators_get_every_item_exactly_once(project):
    assert connection.vendor == "postgresql"
    items_bulk_create(project, range(2000))
    users = [MembershipFactory(project=project).user for _ in range(16)]
    results, errors = _run_annotators(project, users)

    assert errors == []
    assert len(results) == 2000
    assert max(Counter(results).values()) == 1
    assert Annotation.objects.filter(project=project).count() == 2000
    assert not Item.objects.filter(project=project, state=Item.State.UNLABELED).exists()


@pytest.mark.django_db(transaction=True)
def test_budget_is_not_overshot_by_concurrent_annotators(project):
    items_bulk_create(project, range(300))
    project.max_human_annotations = 100
    project.save()
    users = [MembershipFactory(project=project).user for _ in range(8)]
    results, errors = _run_annotators(project, users)

    assert errors == []
    assert Annotation.objects.filter(project=project).count() == 100


@pytest.mark.django_db(transaction=True)
def test_concurrent_calls_of_one_person_stop_at_the_cap(project, settings):
    settings.ARBOR_MAX_OPEN_LEASES = 3
    items_bulk_create(project, range(50))
    user = MembershipFactory(project=project).user
    start = threading.Barrier(12)
    leased, refused = [], []

    def take():
        try:
            start.wait()
            leased.append(services.queue_next(project=project, user=user))
        except TooManyLeases:
            refused.append(True)
        finally:
            connection.close()

    threads = [threading.Thread(target=take) for _ in range(12)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert (len(leased), len(refused)) == (3, 9)
    assert Assignment.objects.filter(annotator=user).count() == 3


@pytest.mark.django_db(transaction=True)
def test_expired_leases_are_rehanded_under_concurrency(project):
    items_bulk_create(project, range(200))
    abandoner = MembershipFactory(project=project).user
    abandoned = [services.queue_next(project=project, user=abandoner) for _ in range(50)]
    past = timezone.now() - dt.timedelta(seconds=1)
    Assignment.objects.filter(annotator=abandoner).update(expires_at=past)
    Item.objects.filter(pk__in=[lease.item.pk for lease in abandoned]).update(lease_expires_at=past)
    users = [MembershipFactory(project=project).user for _ in range(8)]
    results, errors = _run_annotators(project, users)

    assert errors == []
    assert sorted(results) == sorted(
        Item.objects.filter(project=project).values_list("pk", flat=True)
    )
    assert (
        Assignment.objects.filter(annotator=abandoner, state=Assignment.State.EXPIRED).count() == 50
    )


@pytest.mark.django_db
def test_overlap_asks_each_item_of_different_people(project, annotator):
    project.annotations_per_item = 2
    project.save()
    items = _items(project, 3)
    colleague = MembershipFactory(project=project).user

    for user in (annotator, colleague):
        for _ in items:
            lease = services.queue_next(project=project, user=user)
            answer(
                project=project,
                user=user,
                lease=lease,
                idempotency_key=f"{user.pk}-{lease.item.pk}",
            )
        if user == annotator:
            assert services.queue_next(project=project, user=annotator) is None
            assert Item.objects.filter(state=Item.State.LABELED).count() == 0

    assert Item.objects.filter(state=Item.State.LABELED).count() == 3
    assert Annotation.objects.count() == 6


@pytest.mark.django_db
def test_without_overlap_a_requeued_item_is_asked_again(project, annotator):
    item = item_create(project, 1)
    lease = services.queue_next(project=project, user=annotator)
    assert lease.item == item
    answer(project=project, user=annotator, lease=lease, idempotency_key="k")
    Item.objects.filter(pk=item.pk).update(state=Item.State.UNLABELED)  # as a taxonomy split does

    assert services.queue_next(project=project, user=annotator).item == item
