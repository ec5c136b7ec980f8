"""Exports over the API: leads and admins only, progress, download once succeeded.

That annotators and outsiders get 404 from every export endpoint, and change nothing,
is ``test_permissions.test_role_matrix``.
"""

import csv
import io
import json

import pytest
from django.urls import reverse

from annotator.exports.job import export_start
from annotator.models import Export, Item
from tests.annotator.export_data import annotate
from tests.factories import ProjectFactory, UserFactory, item_create, taxonomy_build


@pytest.fixture(autouse=True)
def media_root(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    return settings.MEDIA_ROOT


@pytest.fixture
def labeled_item(project, annotator):
    item = item_create(project, 1)
    annotate(item, "animal/cat", annotator=annotator)
    return item


@pytest.fixture
def queued(project, lead):
    """An export that no worker has run yet."""
    return export_start(project=project, user=lead, format="csv", options={})


def exports_url(project) -> str:
    return reverse("project-exports", kwargs={"project_id": project.pk})


def detail_url(export_id: int) -> str:
    return reverse("export-detail", kwargs={"export_id": export_id})


def download_url(export_id: int) -> str:
    return reverse("export-download", kwargs={"export_id": export_id})


@pytest.mark.django_db
@pytest.mark.parametrize("who", ["lead", "admin_user"])
def test_lead_or_admin_exports_and_downloads(
    project, labeled_item, api, who, request, django_capture_on_commit_callbacks, media_root
):
    client = api(request.getfixturevalue(who))

    with django_capture_on_commit_callbacks(execute=True):
        started = client.post(
            exports_url(project),
            {"format": "coco", "options": {"min_agreement": 0.5}},
            format="json",
        )
    progress = client.get(detail_url(started.json()["id"]))
    download = client.get(progress.json()["download_url"])

    assert started.status_code == 202
    assert started.json()["state"] == "queued"
    assert progress.json()["state"] == "succeeded"
    assert progress.json()["options"]["min_agreement"] == 0.5
    assert (progress.json()["total"], progress.json()["processed"]) == (1, 1)
    assert progress.json()["exported"] == 1
    assert progress.json()["taxonomy_version"] == 1
    assert progress.json()["model_version"] is None
    assert "file" not in progress.json()
    assert download.status_code == 200
    assert download["Content-Type"] == "application/json"
    export_id = started.json()["id"]
    assert download["Content-Disposition"] == (
        f'attachment; filename="arbor-project-{project.id}-export-{export_id}.coco.json"'
    )
    stored = media_root / Export.objects.get(pk=export_id).file.name
    assert b"".join(download.streaming_content) == stored.read_bytes()


def _exported(client, project, format: str, capture) -> str:
    """The file of a new export of ``project``, through the API and the worker."""
    with capture(execute=True):
        started = client.post(exports_url(project), {"format": format}, format="json")
    download = client.get(download_url(started.json()["id"]))
    return b"".join(download.streaming_content).decode("utf-8")


@pytest.mark.django_db
@pytest.mark.parametrize("name", ["=1+1.jpg", "+cmd.jpg", "-x.jpg", "@x.jpg", "\tx.jpg", "\rx.jpg"])
def test_csv_cells_cannot_start_a_formula(
    project, lead, api, name, django_capture_on_commit_callbacks
):
    item = item_create(project, 1)
    Item.objects.filter(pk=item.pk).update(original_name=name)
    annotate(item, "animal/cat", annotator=UserFactory(username="@evil"))
    annotate(item, "animal/cat", annotator=UserFactory(username="alice"), minute=1)
    client = api(lead)

    text = _exported(client, project, "csv", django_capture_on_commit_callbacks)
    records = json.loads(_exported(client, project, "json", django_capture_on_commit_callbacks))

    (row,) = csv.DictReader(io.StringIO(text, newline=""))
    # A spreadsheet shows a cell that starts with a quote as text.
    assert row["file"] == "'" + name
    assert row["annotators"] == "'@evil;alice"
    assert row["label"] == "animal/cat"
    # JSON is data for programs: it keeps the values as they are.
    (record,) = records["items"]
    assert record["file"] == name
    assert [a["annotator"] for a in record["annotations"]] == ["@evil", "alice"]


@pytest.mark.django_db
def test_list_shows_this_projects_exports_only(project, lead, api, queued):
    other = ProjectFactory()
    taxonomy_build(other)
    export_start(project=other, user=lead, format="csv", options={})

    listed = api(lead).get(exports_url(project))

    assert listed.status_code == 200
    assert [row["id"] for row in listed.json()["results"]] == [queued.id]
    assert listed.json()["results"][0]["download_url"] is None


@pytest.mark.django_db
def test_download_before_success_is_a_conflict(lead, api, queued):
    response = api(lead).get(download_url(queued.id))

    assert response.status_code == 409
    assert "queued" in response.json()["detail"]


@pytest.mark.django_db
def test_download_of_a_failed_export_is_a_conflict(lead, api, queued):
    Export.objects.filter(pk=queued.pk).update(state=Export.State.FAILED, error="boom")

    response = api(lead).get(download_url(queued.id))

    assert response.status_code == 409
    assert api(lead).get(detail_url(queued.id)).json()["error"] == "boom"


@pytest.mark.django_db
@pytest.mark.parametrize(
    "body, message",
    [
        ({"format": "xml"}, "not a valid choice"),
        ({}, "required"),
        ({"format": "csv", "options": {"min_agreement": 2}}, "from 0 to 1"),
        ({"format": "csv", "options": {"layout": "flat"}}, "imagefolder exports only"),
        ({"format": "json", "options": {"surprise": True}}, "Unknown option(s) surprise"),
    ],
)
def test_bad_requests_get_a_message(project, lead, api, body, message):
    response = api(lead).post(exports_url(project), body, format="json")

    assert response.status_code == 400
    assert message in str(response.json())
    assert not Export.objects.exists()


def _every_endpoint(project, export_id: int) -> list[tuple[str, str, dict | None]]:
    return [
        ("get", exports_url(project), None),
        ("post", exports_url(project), {"format": "csv"}),
        ("get", detail_url(export_id), None),
        ("get", download_url(export_id), None),
    ]


@pytest.mark.django_db
def test_it_needs_authentication(project, queued):
    from rest_framework.test import APIClient

    for method, url, body in _every_endpoint(project, queued.id):
        assert getattr(APIClient(), method)(url, body, format="json").status_code == 401


@pytest.mark.django_db
def test_unknown_export_is_404(lead, api):
    assert api(lead).get(detail_url(999_999)).status_code == 404
    assert api(lead).get(download_url(999_999)).status_code == 404
