"""Scoping and roles beyond the matrix.

That an outsider (or anyone without the role) gets 404 from every endpoint that takes an
id, and 401 without a login, is ``test_permissions.test_role_matrix``.
"""

import pytest
from django.test import Client

from annotator.models import Annotation, ImportJob, Membership
from annotator.services import queue_next
from learning.models import LabelIssue, TrainingRun
from tests.factories import (
    PASSWORD,
    MembershipFactory,
    ModelVersionFactory,
    UserFactory,
    item_create,
)
from tests.helpers import answer


@pytest.fixture
def world(project, annotator):
    """One of everything in ``project``, owned by ``annotator``."""
    item = item_create(project, 1)
    item_create(project, 2)
    submitted = answer(project=project, user=annotator, idempotency_key="w")
    open_lease = queue_next(project=project, user=annotator)
    job = ImportJob.objects.create(project=project, source="x.zip")
    run = TrainingRun.objects.create(project=project, trigger="manual", state="succeeded")
    return {
        "project": project.id,
        "item": item.id,
        "annotation": submitted.id,
        "lease": open_lease.assignment.pk,
        "job": job.id,
        "export": project.exports.create(format="csv", taxonomy=project.taxonomies.get()).id,
        "membership": Membership.objects.get(project=project, user=annotator).id,
        "run": run.id,
        "issue": LabelIssue.objects.create(
            project=project,
            annotation=submitted,
            model_version=ModelVersionFactory(project=project),
            suggested_node=submitted.node.parent,
            label_quality=0.1,
        ).id,
    }


def _fill(value, ids):
    if isinstance(value, str):
        return value.format(**ids)
    if isinstance(value, list):
        return [_fill(part, ids) for part in value]
    return value


def _call(client, method, template, body, ids):
    url = template.format(**ids)
    if body is not None:
        body = {key: _fill(value, ids) for key, value in body.items()}
    return getattr(client, method)(url, body, format="json")


@pytest.mark.django_db
@pytest.mark.parametrize(
    "method, template, body",
    [
        ("patch", "/api/projects/{project}/", {"name": "mine now"}),
        ("get", "/api/projects/{project}/members/", None),
        (
            "post",
            "/api/projects/{project}/members/",
            {"username": "me2", "password": "longenough1", "role": "lead"},
        ),
        ("post", "/api/projects/{project}/taxonomy/", {"taxonomy_csv": "a/b"}),
        ("post", "/api/projects/{project}/imports/", None),
        ("get", "/api/imports/{job}/", None),
    ],
)
def test_annotator_cannot_manage(api, world, annotator, method, template, body):
    response = _call(api(annotator), method, template, body, world)
    assert response.status_code == 404
    assert Membership.objects.filter(user=annotator, role="annotator").exists()


@pytest.mark.django_db
def test_annotator_cannot_see_or_use_others_work(api, world, project):
    colleague = MembershipFactory(project=project).user
    client = api(colleague)

    assert client.get(f"/api/annotations/{world['annotation']}/").status_code == 404
    assert client.get(f"/api/projects/{project.id}/annotations/").json()["results"] == []
    assert client.post(f"/api/leases/{world['lease']}/release/").status_code == 404
    lease_item = Annotation.objects.get(pk=world["annotation"]).item_id
    assert (
        client.post(
            f"/api/items/{lease_item}/annotations/",
            {"node": "animal/dog", "lease": str(world["lease"])},
            format="json",
        ).status_code
        == 400
    )


@pytest.mark.django_db
def test_lead_manages_members_but_not_budgets(api, project, lead):
    client = api(lead)
    UserFactory(username="newbie")

    added = client.post(
        f"/api/projects/{project.id}/members/",
        {"username": "newbie", "role": "annotator"},
        format="json",
    )
    budget = client.patch(
        f"/api/projects/{project.id}/", {"max_human_annotations": 10}, format="json"
    )

    assert added.status_code == 201
    assert Membership.objects.get(user__username="newbie").role == "annotator"
    assert budget.status_code == 403
    project.refresh_from_db()
    assert project.max_human_annotations is None


@pytest.mark.django_db
def test_admin_sets_budget(api, project, admin_user):
    response = api(admin_user).patch(
        f"/api/projects/{project.id}/",
        {"max_human_annotations": 10, "daily_quota_per_annotator": 3},
        format="json",
    )
    assert response.status_code == 200
    assert response.json()["max_human_annotations"] == 10
    assert response.json()["role"] == "admin"


@pytest.mark.django_db
def test_member_without_password_must_exist(api, project, lead):
    response = api(lead).post(
        f"/api/projects/{project.id}/members/",
        {"username": "ghost", "role": "annotator"},
        format="json",
    )
    assert response.status_code == 400
    assert "an admin can create the account" in response.json()["detail"]


@pytest.mark.django_db
def test_only_admins_create_projects(api, lead, admin_user):
    body = {"name": "birds", "taxonomy_csv": "bird/sparrow\nbird/owl\n"}
    assert api(lead).post("/api/projects/", body, format="json").status_code == 403
    response = api(admin_user).post("/api/projects/", body, format="json")
    assert response.status_code == 201
    taxonomy = api(admin_user).get(f"/api/projects/{response.json()['id']}/taxonomy/").json()
    assert [node["path"] for node in taxonomy["nodes"]] == ["bird", "bird/sparrow", "bird/owl"]


@pytest.mark.django_db
def test_project_list_shows_only_own_projects(api, project, annotator, outsider):
    listed = api(annotator).get("/api/projects/").json()
    assert [p["id"] for p in listed["results"]] == [project.id]
    outsiders = api(outsider).get("/api/projects/").json()["results"]
    assert project.id not in [p["id"] for p in outsiders]


@pytest.mark.django_db
def test_token_login(client):
    user = UserFactory()
    good = client.post("/api/auth/token/", {"username": user.username, "password": PASSWORD})
    bad = client.post("/api/auth/token/", {"username": user.username, "password": "wrong"})
    assert good.status_code == 200 and len(good.json()["token"]) == 40
    assert bad.status_code == 400


@pytest.mark.django_db
def test_session_write_without_csrf_token_is_refused(project, annotator):
    item_create(project, 1)
    browser = Client(enforce_csrf_checks=True)
    browser.login(username=annotator.username, password=PASSWORD)

    refused = browser.post(f"/api/projects/{project.id}/queue/next/")
    browser.get("/admin/login/")  # any page that sets the CSRF cookie
    token = browser.cookies["csrftoken"].value
    accepted = browser.post(f"/api/projects/{project.id}/queue/next/", HTTP_X_CSRFTOKEN=token)

    assert refused.status_code == 403
    assert "CSRF" in refused.json()["detail"]
    assert accepted.status_code == 200


@pytest.mark.django_db
def test_items_hide_ground_truth_and_allow_listed_ordering(api, project, annotator):
    first = item_create(project, 1, priority=0.2)
    second = item_create(project, 2, priority=0.7)
    client = api(annotator)

    by_priority = client.get(f"/api/projects/{project.id}/items/?ordering=-priority").json()
    leaky = client.get(f"/api/projects/{project.id}/items/?ordering=project__created_by__password")

    assert [row["id"] for row in by_priority["results"]] == [second.id, first.id]
    assert "ground_truth" not in by_priority["results"][0]
    assert leaky.status_code == 400


@pytest.mark.django_db
def test_original_names_which_may_name_the_class_are_for_leads_only(api, project, annotator, lead):
    item = item_create(project, 1)
    item.original_name = "cat/0001.jpg"
    item.save()

    queued = api(annotator).post(f"/api/projects/{project.id}/queue/next/").json()["item"]
    detail = api(annotator).get(f"/api/items/{item.id}/").json()
    listed = api(annotator).get(f"/api/projects/{project.id}/items/").json()["results"][0]
    for_lead = api(lead).get(f"/api/items/{item.id}/").json()

    assert "cat" not in str(queued) + str(detail) + str(listed)
    assert for_lead["original_name"] == "cat/0001.jpg"


@pytest.mark.django_db
def test_image_is_served_with_its_type_and_nosniff(api, project, annotator):
    item = item_create(project, 1)
    response = api(annotator).get(f"/api/items/{item.id}/image/")
    assert response.status_code == 200
    assert response["Content-Type"] == "image/png"
    assert response["X-Content-Type-Options"] == "nosniff"
    assert b"".join(response.streaming_content).startswith(b"\x89PNG")


@pytest.mark.django_db
def test_schema_and_docs(client):
    assert client.get("/api/schema/").status_code == 200
    assert client.get("/api/docs/").status_code == 200
