"""Audit log, budgets (summary, forecast, notices, annotator-hours) and member management."""

import pytest
from django.db import connection

from annotator import services
from annotator.audit import audit_record
from annotator.budgets import budget_notices_record
from annotator.models import Assignment, AuditEvent, Membership
from annotator.projects import project_update
from tests.annotator.test_queue import _run_annotators
from tests.factories import (
    MembershipFactory,
    ModelVersionFactory,
    ProjectFactory,
    UserFactory,
    item_create,
    items_bulk_create,
)
from tests.helpers import answer

NOTICE = AuditEvent.Action.BUDGET_NOTICE


def _events(project, action=None):
    events = AuditEvent.objects.filter(project=project).order_by("id")
    return list(events.filter(action=action) if action else events)


# --- Audit events ---------------------------------------------------------------------


@pytest.mark.django_db
def test_budget_and_settings_changes_are_audited_apart(api, project, admin_user):
    project.daily_quota_per_annotator = 5
    project.save()

    response = api(admin_user).patch(
        f"/api/projects/{project.id}/",
        {"name": "renamed", "max_human_annotations": 100, "daily_quota_per_annotator": 5},
        format="json",
    )

    assert response.status_code == 200
    budget, settings = _events(project)
    assert budget.action == "budget.update"
    assert (budget.before, budget.after) == (
        {"max_human_annotations": None},
        {"max_human_annotations": 100},
    )
    assert settings.action == "project.update"
    assert settings.before == {"name": project.name}
    assert settings.after == {"name": "renamed"}
    assert settings.actor == admin_user and settings.actor_username == "admin"
    assert (settings.target_type, settings.target_id) == ("project", str(project.id))


@pytest.mark.django_db
def test_an_edit_that_changes_nothing_is_not_logged(api, project, lead):
    api(lead).patch(f"/api/projects/{project.id}/", {"name": project.name}, format="json")
    assert _events(project) == []


@pytest.mark.django_db
def test_member_add_and_role_change_are_audited(api, project, lead):
    client = api(lead)
    UserFactory(username="newbie")
    body = {"username": "newbie", "role": "annotator"}

    client.post(f"/api/projects/{project.id}/members/", body, format="json")
    client.post(f"/api/projects/{project.id}/members/", body, format="json")  # no change
    client.post(f"/api/projects/{project.id}/members/", {**body, "role": "lead"}, format="json")

    added, promoted = _events(project)
    assert (added.action, added.before, added.after) == (
        "member.add",
        None,
        {"username": "newbie", "role": "annotator"},
    )
    assert (promoted.action, promoted.before["role"], promoted.after["role"]) == (
        "member.role_change",
        "annotator",
        "lead",
    )
    assert added.actor == lead


@pytest.mark.django_db
def test_lead_changes_a_role(api, project, lead, annotator):
    membership = Membership.objects.get(user=annotator)
    url = f"/api/projects/{project.id}/members/{membership.id}/"

    response = api(lead).patch(url, {"role": "lead"}, format="json")

    assert response.status_code == 200 and response.json()["role"] == "lead"
    membership.refresh_from_db()
    assert membership.role == "lead"
    [event] = _events(project, "member.role_change")
    assert event.before == {"username": annotator.username, "role": "annotator"}
    assert event.after == {"username": annotator.username, "role": "lead"}


@pytest.mark.django_db
def test_nobody_becomes_admin_through_a_project(api, project, lead):
    membership = Membership.objects.get(user=lead)
    response = api(lead).patch(
        f"/api/projects/{project.id}/members/{membership.id}/", {"role": "admin"}, format="json"
    )
    assert response.status_code == 400
    lead.refresh_from_db()
    assert not lead.is_staff
    assert _events(project) == []


@pytest.mark.django_db
def test_removing_a_member_ends_their_leases_and_is_audited(api, project, lead, annotator):
    item = item_create(project, 1)
    lease = services.queue_next(project=project, user=annotator)
    membership = Membership.objects.get(user=annotator)

    response = api(lead).delete(f"/api/projects/{project.id}/members/{membership.id}/")

    assert response.status_code == 204
    assert not Membership.objects.filter(pk=membership.pk).exists()
    assert Assignment.objects.get(pk=lease.assignment.pk).state == Assignment.State.RELEASED
    item.refresh_from_db()
    assert item.lease_expires_at is None
    [event] = _events(project, "member.remove")
    assert event.before == {"username": annotator.username, "role": "annotator"}
    assert api(annotator).get(f"/api/projects/{project.id}/").status_code == 404


@pytest.mark.django_db
def test_a_membership_of_another_project_is_404(api, project, lead, outsider):
    foreign = Membership.objects.get(user=outsider)
    response = api(lead).delete(f"/api/projects/{project.id}/members/{foreign.id}/")
    assert response.status_code == 404
    assert Membership.objects.filter(pk=foreign.pk).exists()


@pytest.mark.django_db
def test_first_taxonomy_is_audited(api, lead):
    project = MembershipFactory(user=lead, role=Membership.Role.LEAD).project
    response = api(lead).post(
        f"/api/projects/{project.id}/taxonomy/", {"taxonomy_csv": "a/b\na/c\n"}, format="json"
    )
    assert response.status_code == 201
    [event] = _events(project)
    assert event.action == "taxonomy.create"
    assert event.after == {"version": 1, "levels": ["level1", "level2"]}


@pytest.mark.django_db
def test_audit_list_is_newest_first_paginated_and_filtered(api, project, admin_user, lead):
    other = ProjectFactory()
    for name in ("one", "two", "three"):
        project_update(project=project, actor=lead, name=name)
    project_update(project=other, actor=admin_user, name="elsewhere")
    project_update(project=project, actor=admin_user, max_human_annotations=5)

    everything = api(lead).get(f"/api/projects/{project.id}/audit/").json()
    budgets = api(admin_user).get(f"/api/projects/{project.id}/audit/?action=budget.update")

    assert everything["count"] == 4
    assert [row["after"] for row in everything["results"]] == [
        {"max_human_annotations": 5},
        {"name": "three"},
        {"name": "two"},
        {"name": "one"},
    ]
    assert everything["results"][1]["actor"] == lead.username
    assert [row["action"] for row in budgets.json()["results"]] == ["budget.update"]


@pytest.mark.django_db
def test_audit_record_knows_its_actions_and_once_keys(project):
    with pytest.raises(ValueError, match="Unknown audit action"):
        audit_record(actor=None, project=project, action="nope", before=None, after=None)
    first = audit_record(
        actor=None, project=project, action=NOTICE, before=None, after={}, once_key="k"
    )
    again = audit_record(
        actor=None, project=project, action=NOTICE, before=None, after={}, once_key="k"
    )
    assert first is not None and again is None
    assert len(_events(project)) == 1


@pytest.mark.django_db
def test_django_admin_shows_the_log_read_only(client, project, admin_user):
    admin_user.is_superuser = True
    admin_user.save()
    project_update(project=project, actor=admin_user, name="x")
    event = AuditEvent.objects.get()
    client.force_login(admin_user)

    assert client.get("/admin/annotator/auditevent/").status_code == 200
    assert client.get(f"/admin/annotator/auditevent/{event.pk}/change/").status_code == 200
    assert client.get("/admin/annotator/auditevent/add/").status_code == 403
    assert client.post(f"/admin/annotator/auditevent/{event.pk}/delete/").status_code == 403


# --- Budgets --------------------------------------------------------------------------


@pytest.mark.django_db
def test_budget_summary_for_a_lead(api, project, lead, annotator):
    for seed in range(6):
        item_create(project, seed)
    project.max_human_annotations = 5
    project.max_annotator_hours = 2.0
    project.daily_quota_per_annotator = 10
    project.save()
    for _ in range(4):
        answer(project=project, user=annotator, duration_ms=900_000)
    services.queue_next(project=project, user=annotator)
    taxonomy = project.taxonomies.get()
    for version, (labels, accuracy) in enumerate([(1, 0.2), (2, 0.35), (4, 0.5)], start=1):
        ModelVersionFactory(
            project=project,
            taxonomy=taxonomy,
            version=version,
            human_labels=labels,
            metrics={"shadow": {"n": 100, "acc_fine": accuracy}},
        )

    body = api(lead).get(f"/api/projects/{project.id}/budget/").json()

    assert body["max_human_annotations"] == 5
    assert (body["used"], body["open_leases"], body["remaining"]) == (4, 1, 0)
    assert body["percent_spent"] == 80.0
    assert body["notice"] == "80"
    assert body["annotator_hours_used"] == pytest.approx(1.0)
    assert body["max_annotator_hours"] == 2.0
    assert body["forecast"]["method"] == "power_law"
    assert body["forecast"]["at_labels"] == 5
    assert 0.5 <= body["forecast"]["accuracy"] <= 1
    assert body["annotators_today"] == [{"username": annotator.username, "used_today": 4}]
    assert body["quota"] == {"daily_quota": 10, "used_today": 0, "open_leases": 0, "left_today": 10}


@pytest.mark.django_db
def test_annotator_sees_only_their_quota(api, project, annotator):
    for seed in range(3):
        item_create(project, seed)
    project.max_human_annotations = 100
    project.daily_quota_per_annotator = 3
    project.save()
    answer(project=project, user=annotator)
    services.queue_next(project=project, user=annotator)

    body = api(annotator).get(f"/api/projects/{project.id}/budget/").json()

    assert body == {"quota": {"daily_quota": 3, "used_today": 1, "open_leases": 1, "left_today": 1}}


@pytest.mark.django_db
def test_unlimited_project_has_no_forecast_or_notice(api, project, admin_user):
    body = api(admin_user).get(f"/api/projects/{project.id}/budget/").json()
    assert body["remaining"] is None and body["percent_spent"] is None
    assert body["notice"] == "none"
    assert body["forecast"] == {"at_labels": None, "accuracy": None, "method": "none", "points": 0}


@pytest.mark.django_db
def test_notices_at_80_and_100_percent_once_each(project, annotator):
    for seed in range(12):
        item_create(project, seed)
    project.max_human_annotations = 5
    project.save()

    levels = []
    for number in range(5):
        last = answer(project=project, user=annotator, idempotency_key=f"k{number}")
        levels.append([event.after["threshold"] for event in _events(project, NOTICE)])
        budget_notices_record(project=project)  # a repeated check changes nothing
    replayed = services.annotation_submit(
        item=last.item,
        user=annotator,
        node="animal/cat",
        lease_id=last.assignment_id,
        idempotency_key="k4",
    )

    assert replayed.replayed

    assert levels == [[], [], [], [80], [80, 100]]
    assert len(_events(project, NOTICE)) == 2
    eighty = _events(project, NOTICE)[0]
    assert eighty.after == {"threshold": 80, "used": 4, "max_human_annotations": 5}
    assert eighty.actor is None


@pytest.mark.django_db
def test_raising_the_budget_rearms_the_notices(project, annotator, admin_user):
    for seed in range(12):
        item_create(project, seed)
    project.max_human_annotations = 5
    project.save()
    for _ in range(5):
        answer(project=project, user=annotator)

    project_update(project=project, actor=admin_user, max_human_annotations=10)
    for _ in range(3):
        answer(project=project, user=annotator)

    notices = [
        (e.after["threshold"], e.after["max_human_annotations"]) for e in _events(project, NOTICE)
    ]
    assert notices == [(80, 5), (100, 5), (80, 10)]


@pytest.mark.django_db(transaction=True)
def test_notices_are_recorded_once_under_concurrent_submissions(project):
    assert connection.vendor == "postgresql"
    items_bulk_create(project, range(150))
    project.max_human_annotations = 60
    project.save()
    users = [MembershipFactory(project=project).user for _ in range(8)]

    results, errors = _run_annotators(project, users)

    assert errors == [] and len(results) == 60
    thresholds = sorted(event.after["threshold"] for event in _events(project, NOTICE))
    assert thresholds == [80, 100]


@pytest.mark.django_db
def test_annotator_hours_budget_stops_the_queue(project, annotator):
    for seed in range(10):
        item_create(project, seed)
    project.max_annotator_hours = 3_600 / 3_600_000  # 3.6 seconds
    project.save()
    for _ in range(3):
        answer(project=project, user=annotator, duration_ms=1_000)

    open_lease = services.queue_next(project=project, user=annotator)
    # 3 s spent and an open lease expected to take the mean 1 s: the budget is reached.
    refused = services.queue_next(project=project, user=annotator)
    answer(project=project, user=annotator, lease=open_lease, duration_ms=1_000)

    assert open_lease is not None
    assert refused is None
    assert services.queue_next(project=project, user=annotator) is None


@pytest.mark.django_db
def test_only_admins_set_the_annotator_hours_budget(api, project, lead, admin_user):
    url = f"/api/projects/{project.id}/"
    assert api(lead).patch(url, {"max_annotator_hours": 10}, format="json").status_code == 403
    response = api(admin_user).patch(url, {"max_annotator_hours": 12.5}, format="json")
    assert response.status_code == 200
    assert response.json()["max_annotator_hours"] == 12.5
    [event] = _events(project, "budget.update")
    assert event.after == {"max_annotator_hours": 12.5}
