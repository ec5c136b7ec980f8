"""Imports over the API.

That annotators and outsiders get 404 from the import endpoints, even with a real upload,
and change nothing, is ``test_permissions.test_role_matrix``.
"""

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from rest_framework.test import APIClient

from annotator.models import ImportJob, Item
from tests.factories import ProjectFactory, png_bytes
from tests.helpers import zip_upload


@pytest.fixture(autouse=True)
def media_root(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    return settings.MEDIA_ROOT


def imports_url(project) -> str:
    return reverse("project-imports", kwargs={"project_id": project.pk})


def job_url(job_id: int) -> str:
    return reverse("import-job-detail", kwargs={"job_id": job_id})


@pytest.fixture
def job(project):
    return ImportJob.objects.create(project=project, source="/nowhere")


@pytest.mark.django_db
def test_lead_imports_a_zip(project, lead, api, media_root, django_capture_on_commit_callbacks):
    upload = zip_upload(
        {
            "cat/1.png": png_bytes(1),
            "dog/2.png": png_bytes(2),
            "dog/2-again.png": png_bytes(2),
            "misc/3.png": png_bytes(3),
            "../evil.png": png_bytes(4),
            "cat/empty.jpg": b"",
        }
    )

    with django_capture_on_commit_callbacks(execute=True):
        response = api(lead).post(
            imports_url(project), {"file": upload, "with_labels": "true"}, format="multipart"
        )

    assert response.status_code == 202, response.data
    assert response.data["state"] == "queued"
    assert "source" not in response.data
    detail = api(lead).get(job_url(response.data["id"]))
    assert detail.status_code == 200
    report = detail.data
    assert report["state"] == "succeeded", report
    assert (report["total"], report["processed"], report["imported"]) == (6, 6, 3)
    assert (report["duplicates"], report["skipped"]) == (1, 2)
    assert {error["file"] for error in report["errors"]} == {"../evil.png", "cat/empty.jpg"}
    assert report["unmatched_folders"] == [{"folder": "misc", "files": 1}]
    assert report["finished_at"] is not None
    labels = {
        item.original_name: item.ground_truth for item in Item.objects.filter(project=project)
    }
    assert labels["cat/1.png"].path == "animal/cat"
    assert labels["misc/3.png"] is None
    assert list((media_root / "imports").iterdir()) == []  # the stored upload is gone


@pytest.mark.django_db
def test_admin_imports_too(project, admin_user, api, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        response = api(admin_user).post(
            imports_url(project), {"file": zip_upload({"a.png": png_bytes(1)})}, format="multipart"
        )

    assert response.status_code == 202
    assert ImportJob.objects.get(pk=response.data["id"]).imported == 1


@pytest.mark.django_db
def test_non_zip_upload_is_refused(project, lead, api):
    upload = SimpleUploadedFile("images.zip", png_bytes(1), content_type="application/zip")

    response = api(lead).post(imports_url(project), {"file": upload}, format="multipart")

    assert response.status_code == 400
    assert "Upload a .zip file" in response.data["detail"]
    assert not ImportJob.objects.exists()


@pytest.mark.django_db
def test_oversized_upload_is_refused(project, lead, api, settings):
    settings.ARBOR_MAX_UPLOAD_BYTES = 100

    response = api(lead).post(
        imports_url(project),
        {"file": zip_upload({"a.png": png_bytes(1, size=(32, 32))})},
        format="multipart",
    )

    assert response.status_code == 400
    assert "larger than the limit of 100 bytes" in response.data["detail"]


@pytest.mark.django_db
def test_upload_without_a_file_is_refused(project, lead, api):
    response = api(lead).post(imports_url(project), {"with_labels": "true"}, format="multipart")

    assert response.status_code == 400
    assert "file" in response.data


@pytest.mark.django_db
def test_it_needs_authentication(project, job):
    client = APIClient()

    upload = zip_upload({"a.png": png_bytes(1)})
    response = client.post(imports_url(project), {"file": upload}, format="multipart")
    assert response.status_code == 401
    assert client.get(job_url(job.pk)).status_code == 401


@pytest.mark.django_db
def test_another_projects_job_is_hidden(lead, api):
    other_job = ImportJob.objects.create(project=ProjectFactory(), source="/nowhere")

    assert api(lead).get(job_url(other_job.pk)).status_code == 404
    assert api(lead).get(job_url(other_job.pk + 1000)).status_code == 404


@pytest.mark.django_db
def test_unknown_project_is_404(lead, api):
    response = api(lead).post(
        reverse("project-imports", kwargs={"project_id": 999_999}),
        {"file": zip_upload({"a.png": png_bytes(1)})},
        format="multipart",
    )

    assert response.status_code == 404
