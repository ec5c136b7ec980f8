"""One service creates a project with its first taxonomy, audited, for every caller."""

import json

import pytest
from django.core.management import call_command

from annotator.exceptions import ImportRejected
from annotator.models import AuditEvent, Project
from annotator.projects import project_create
from tests.factories import UserFactory

TREE = {"levels": ["kind", "animal"], "tree": {"pets": ["cat", "dog"], "wild": ["bird"]}}


@pytest.mark.django_db
def test_the_service_creates_the_project_and_its_audited_first_taxonomy():
    admin = UserFactory(is_staff=True)
    project = project_create(name=" Pets ", created_by=admin, taxonomy=TREE)

    assert project.name == "Pets"
    taxonomy = project.taxonomies.get()
    assert sorted(taxonomy.nodes.filter(is_leaf=True).values_list("name", flat=True)) == [
        "bird",
        "cat",
        "dog",
    ]
    event = AuditEvent.objects.get(project=project)
    assert (event.action, event.actor, event.after["version"]) == ("taxonomy.create", admin, 1)


@pytest.mark.django_db
def test_a_bad_taxonomy_leaves_no_project_behind():
    with pytest.raises(ImportRejected):
        project_create(name="Broken", created_by=None, taxonomy={"tree": {"x": 1}})
    assert not Project.objects.filter(name="Broken").exists()
    assert not AuditEvent.objects.exists()


@pytest.mark.django_db
def test_the_command_goes_through_the_same_service(tmp_path):
    taxonomy = tmp_path / "taxonomy.json"
    taxonomy.write_text(json.dumps(TREE))
    (tmp_path / "images").mkdir()

    call_command("create_project", name="From CLI", taxonomy=taxonomy, images=tmp_path / "images")

    project = Project.objects.get(name="From CLI")
    assert AuditEvent.objects.filter(project=project, action="taxonomy.create").count() == 1


# The API (POST /api/projects/), as the new-project page calls it.


@pytest.mark.django_db
def test_json_text_with_a_lead_makes_the_project_its_taxonomy_and_its_lead(api, admin_user):
    lena = UserFactory(username="lena")
    body = {"name": "Pets", "taxonomy_json": json.dumps(TREE), "lead": "lena"}

    response = api(admin_user).post("/api/projects/", body, format="json")

    assert response.status_code == 201, response.content
    project = Project.objects.get(pk=response.json()["id"])
    assert project.taxonomies.get().levels == ["kind", "animal"]
    assert list(project.memberships.values_list("user__username", "role")) == [("lena", "lead")]
    assert AuditEvent.objects.get(project=project, action="member.add").actor == admin_user
    assert lena.is_staff is False


@pytest.mark.django_db
def test_csv_text_takes_level_names(api, admin_user):
    body = {
        "name": "Birds",
        "taxonomy_csv": "path\nbird/owl\nbird/wren\n",
        "levels": ["order", "kind"],
    }

    response = api(admin_user).post("/api/projects/", body, format="json")

    assert response.status_code == 201
    taxonomy = Project.objects.get(pk=response.json()["id"]).taxonomies.get()
    assert taxonomy.levels == ["order", "kind"]


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"taxonomy_json": '{"tree": {"a": ["x"],\n "a": ["y"]}}'}, "'a' appears twice"),
        (
            {"taxonomy_json": '{"tree": {"a": ["x"]}'},
            "not valid JSON: Expecting ',' delimiter: line 1",
        ),
        ({"taxonomy_json": '{"tree": {"a": {"b": 3}}}'}, "under 'a/b' must be an object"),
        ({"taxonomy_csv": "a/x\na/y,b/z\n"}, "Row 2: write one path per row"),
        ({"taxonomy_csv": "a/x\nb\n"}, "same depth"),
        ({"taxonomy_json": json.dumps(TREE), "levels": ["x", "y"]}, "Level names are for a CSV"),
        ({"taxonomy_json": json.dumps(TREE), "taxonomy": TREE}, "Give the taxonomy once"),
        ({"taxonomy_json": json.dumps(TREE), "taxonomy_csv": "a/b"}, "either as JSON or as CSV"),
        ({"taxonomy_csv": "a/b", "lead": "nobody"}, "No user named 'nobody'"),
    ],
)
@pytest.mark.django_db
def test_a_bad_taxonomy_or_lead_is_a_400_that_says_where(api, admin_user, body, message):
    response = api(admin_user).post("/api/projects/", {"name": "Bad", **body}, format="json")

    assert response.status_code == 400
    assert message in response.json()["detail"]
    assert not Project.objects.exists()


@pytest.mark.django_db
def test_leads_create_projects_only_with_the_setting_and_lead_what_they_create(
    api, project, lead, annotator, settings
):
    body = {"name": "Lead's own", "taxonomy_csv": "a/b\n"}
    refused = api(lead).post("/api/projects/", body, format="json")
    assert refused.status_code == 403
    assert refused.json()["detail"] == "Only admins create projects."

    settings.ARBOR_LEADS_CREATE_PROJECTS = True
    assert api(annotator).post("/api/projects/", body, format="json").status_code == 403
    response = api(lead).post("/api/projects/", body, format="json")

    assert response.status_code == 201
    created = Project.objects.get(pk=response.json()["id"])
    assert list(created.memberships.values_list("user", "role")) == [(lead.pk, "lead")]
    assert api(lead).get(f"/api/projects/{created.pk}/").json()["role"] == "lead"
