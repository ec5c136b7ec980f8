"""Members through the API: new accounts with a one-time password (admins), and each
member's figures for the members page."""

import pytest
from django.contrib.auth import get_user_model
from rest_framework.test import APIClient

from annotator.models import AuditEvent
from tests.factories import MembershipFactory, UserFactory, item_create
from tests.helpers import answer, stored_rows


def _members(project) -> str:
    return f"/api/projects/{project.id}/members/"


@pytest.mark.django_db
def test_an_admin_creates_an_account_whose_password_is_answered_once(api, project, admin_user):
    body = {"username": "nora", "role": "annotator", "create_account": True}

    response = api(admin_user).post(_members(project), body, format="json")

    assert response.status_code == 201, response.content
    password = response.json()["one_time_password"]
    assert len(password) == 16
    nora = get_user_model().objects.get(username="nora")
    assert password not in nora.password and nora.check_password(password)
    token = APIClient().post("/api/auth/token/", {"username": "nora", "password": password})
    assert token.status_code == 200
    listed = api(admin_user).get(_members(project)).content.decode()
    assert "nora" in listed and password not in listed
    event = AuditEvent.objects.get(project=project, action="member.add")
    assert event.after == {"username": "nora", "role": "annotator", "account_created": True}
    assert password not in str(event.after)


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"username": "lead-of-it"}, "already a user named 'lead-of-it'"),
        ({"username": "two words"}, "'two words': Enter a valid username"),
    ],
)
@pytest.mark.django_db
def test_a_new_account_needs_a_new_valid_name(api, project, admin_user, body, message):
    UserFactory(username="lead-of-it")
    before = stored_rows()

    response = api(admin_user).post(
        _members(project), {**body, "role": "lead", "create_account": True}, format="json"
    )

    assert response.status_code == 400
    assert message in response.json()["detail"]
    assert stored_rows() == before


@pytest.mark.parametrize(
    "creates", [{"create_account": True}, {"password": "longenough1"}], ids=["generated", "given"]
)
@pytest.mark.django_db
def test_leads_add_people_who_have_an_account_but_create_none(api, project, lead, creates):
    UserFactory(username="has-one")
    before = stored_rows()

    refused = api(lead).post(
        _members(project), {"username": "newbie", "role": "annotator", **creates}, format="json"
    )
    assert refused.status_code == 403
    assert stored_rows() == before

    added = api(lead).post(_members(project), {"username": "has-one", "role": "annotator"})
    assert added.status_code == 201
    assert "one_time_password" not in added.json()


@pytest.mark.django_db
def test_member_stats_give_answers_throughput_agreement_and_quota_today(
    api, project, lead, annotator
):
    project.annotations_per_item = 3
    project.daily_quota_per_annotator = 5
    project.save()
    item_create(project, 1)
    ana, ben, cleo = (
        MembershipFactory(project=project, user=UserFactory(username=name)).user
        for name in ("ana", "ben", "cleo")
    )
    answer(project=project, user=ana, node="animal/cat", duration_ms=30_000)
    answer(project=project, user=ben, node="animal/cat", duration_ms=60_000)
    answer(project=project, user=cleo, node="animal/dog")

    response = api(lead).get(_members(project) + "stats/")

    assert response.status_code == 200
    rows = {row["username"]: row for row in response.json()}
    assert list(rows) == [lead.username, annotator.username, "ana", "ben", "cleo"]
    assert {key: rows["ana"][key] for key in ("role", "answers", "items_per_hour")} == {
        "role": "annotator",
        "answers": 1,
        "items_per_hour": 120.0,
    }
    assert (rows["ana"]["agreement"], rows["cleo"]["agreement"]) == (1.0, 0.0)
    assert rows["cleo"]["items_per_hour"] is None, "no timed answer, no throughput"
    assert rows["ben"]["quota"] == {
        "daily_quota": 5,
        "used_today": 1,
        "open_leases": 0,
        "left_today": 4,
    }
    assert rows[lead.username]["role"] == "lead"
    assert (rows[annotator.username]["answers"], rows[annotator.username]["agreement"]) == (0, None)
    assert api(annotator).get(_members(project) + "stats/").status_code == 404
