"""The page shells: login required, scoped like the API, user strings escaped."""

import json

import pytest
from django.test import Client

from tests.factories import PASSWORD
from tests.routes import pages_with_an_id

PROJECT_PAGES = [
    "label",
    "grid",
    "guide",
    "review",
    "dashboard",
    "export",
    "import",
    "settings",
    "taxonomy",
    "members",
]
LEAD_PAGES = ["review", "dashboard", "export", "import", "settings", "taxonomy", "members"]


def logged_in(user) -> Client:
    client = Client()
    assert client.login(username=user.username, password=PASSWORD)
    return client


@pytest.mark.django_db
def test_pages_need_a_login(project):
    for url in ["/", *(f"/projects/{project.id}/{page}/" for page in PROJECT_PAGES)]:
        response = Client().get(url)
        assert response.status_code == 302
        assert response["Location"].startswith("/login/?next=")


@pytest.mark.django_db
def test_login_page_and_logout(project, annotator):
    assert Client().get("/login/").status_code == 200
    client = logged_in(annotator)
    assert client.get("/").status_code == 200
    assert client.post("/logout/").status_code == 302
    assert client.get("/").status_code == 302


def test_project_pages_are_every_page_with_an_id():
    assert {f"/projects/{{project}}/{page}/" for page in PROJECT_PAGES} == pages_with_an_id()


@pytest.mark.django_db
def test_an_outsider_gets_404_on_every_project_page(project, outsider):
    client = logged_in(outsider)
    for template in sorted(pages_with_an_id()):
        assert client.get(template.format(project=project.id)).status_code == 404, template


@pytest.mark.django_db
def test_annotators_get_the_labeling_pages_only(project, annotator):
    client = logged_in(annotator)
    for page in PROJECT_PAGES:
        expected = 404 if page in LEAD_PAGES else 200
        assert client.get(f"/projects/{project.id}/{page}/").status_code == expected, page
    navigation = client.get(f"/projects/{project.id}/label/").content.decode()
    assert "/dashboard/" not in navigation


@pytest.mark.django_db
def test_leads_get_every_page(project, lead):
    client = logged_in(lead)
    for page in PROJECT_PAGES:
        assert client.get(f"/projects/{project.id}/{page}/").status_code == 200, page


@pytest.mark.django_db
def test_user_strings_are_escaped_and_page_data_is_json_script(project, lead):
    project.name = '</script><script>alert("x")</script><b>'
    project.save()
    body = logged_in(lead).get(f"/projects/{project.id}/label/").content.decode()

    assert "<script>alert" not in body
    assert "&lt;/script&gt;&lt;script&gt;alert" in body
    start = body.index('<script id="page-data" type="application/json">')
    data = body[start:].split(">", 1)[1].split("</script>", 1)[0]
    assert json.loads(data)["project"] == project.id


@pytest.mark.django_db
def test_the_new_project_page_is_for_those_who_may_create_projects(
    project, lead, admin_user, settings
):
    assert Client().get("/projects/new/")["Location"].startswith("/login/?next=")
    admin = logged_in(admin_user)
    assert admin.get("/projects/new/").status_code == 200
    assert 'href="/projects/new/"' in admin.get("/").content.decode()
    client = logged_in(lead)
    assert client.get("/projects/new/").status_code == 403
    assert 'href="/projects/new/"' not in client.get("/").content.decode()

    settings.ARBOR_LEADS_CREATE_PROJECTS = True
    assert client.get("/projects/new/").status_code == 200
    assert 'href="/projects/new/"' in client.get("/").content.decode()
