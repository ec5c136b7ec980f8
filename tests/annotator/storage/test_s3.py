"""Images, uploads and exports in an S3-compatible bucket (ARBOR_STORAGE=s3).

Each test runs against a real S3 server on this machine (moto's server mode) with the
storage the settings build from the environment, and checks that no image, upload or
export is written under MEDIA_ROOT: what machines share is the bucket.
"""

import io
import zipfile

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.core.files.storage import default_storage
from django.urls import reverse

from annotator.models import Export, ImportJob, Item
from tests.annotator.export_data import annotate
from tests.annotator.storage.conftest import on_local_disk, settings_from_environment
from tests.factories import item_create, png_bytes
from tests.helpers import zip_upload


def test_settings_keep_the_filesystem_unless_told(monkeypatch):
    monkeypatch.delenv("ARBOR_STORAGE", raising=False)
    storage = settings_from_environment()["STORAGES"]["default"]
    assert storage == {"BACKEND": "django.core.files.storage.FileSystemStorage"}


@pytest.mark.parametrize(
    ("environment", "message"),
    [
        ({"ARBOR_STORAGE": "s3"}, "ARBOR_S3_BUCKET must be set when ARBOR_STORAGE=s3"),
        ({"ARBOR_STORAGE": "ftp"}, "ARBOR_STORAGE='ftp' is not one of filesystem, s3"),
    ],
)
def test_settings_refuse_an_incomplete_storage(monkeypatch, environment, message):
    monkeypatch.delenv("ARBOR_S3_BUCKET", raising=False)
    for variable, value in environment.items():
        monkeypatch.setenv(variable, value)
    with pytest.raises(ImproperlyConfigured, match=message):
        settings_from_environment()


@pytest.mark.django_db
def test_an_uploaded_zip_is_imported_into_the_bucket(
    bucket, project, lead, api, settings, django_capture_on_commit_callbacks
):
    images = {"cat/1.png": png_bytes(1), "dog/2.png": png_bytes(2)}

    with django_capture_on_commit_callbacks(execute=True):
        response = api(lead).post(
            reverse("project-imports", kwargs={"project_id": project.pk}),
            {"file": zip_upload(images), "with_labels": "true"},
            format="multipart",
        )

    assert response.status_code == 202, response.data
    job = ImportJob.objects.get(pk=response.data["id"])
    assert (job.state, job.imported, job.error) == (ImportJob.State.SUCCEEDED, 2, "")
    items = {item.original_name: item for item in Item.objects.filter(project=project)}
    assert {name: bucket.read(item.image.name) for name, item in items.items()} == images
    assert items["cat/1.png"].ground_truth.path == "animal/cat"
    # The stored upload was read from the bucket by the worker, then deleted from it.
    assert bucket.keys() == {item.image.name for item in items.values()}
    assert on_local_disk(settings.MEDIA_ROOT, ["imports", *bucket.keys()]) == []


@pytest.mark.django_db
def test_an_upload_gone_from_the_bucket_fails_its_import(
    bucket, project, lead, django_capture_on_commit_callbacks, monkeypatch
):
    from annotator.imports import job as import_job

    # The worker finds the stored upload gone (a lifecycle rule, a manual cleanup).
    monkeypatch.setattr(import_job, "_job_enqueue", lambda job_id: None)
    with django_capture_on_commit_callbacks(execute=True):
        job = import_job.import_job_start(
            project=project,
            user=lead,
            upload=zip_upload({"a.png": png_bytes(1)}),
            with_labels=False,
        )
    (upload,) = bucket.keys()
    default_storage.delete(upload)

    import_job.import_job_run(job_id=job.pk)

    job.refresh_from_db()
    assert (job.state, job.error) == (ImportJob.State.FAILED, "The uploaded file is gone.")


@pytest.mark.django_db
def test_the_image_endpoint_serves_from_the_bucket_to_members_only(
    bucket, project, annotator, outsider, api, settings
):
    item = item_create(project, 1)
    url = reverse("item-image", kwargs={"item_id": item.pk})

    response = api(annotator).get(url)

    assert response.status_code == 200
    assert response["Content-Type"] == "image/png"
    assert b"".join(response.streaming_content) == bucket.read(item.image.name)
    assert api(outsider).get(url).status_code == 404
    default_storage.delete(item.image.name)
    gone = api(annotator).get(url)
    assert (gone.status_code, gone.json()["detail"]) == (404, "The image file is gone.")
    assert on_local_disk(settings.MEDIA_ROOT, [item.image.name]) == []


@pytest.mark.django_db
def test_an_export_is_written_to_and_downloaded_from_the_bucket(
    bucket, project, lead, annotator, outsider, api, settings, django_capture_on_commit_callbacks
):
    item = item_create(project, 1)
    annotate(item, "animal/cat", annotator=annotator)

    with django_capture_on_commit_callbacks(execute=True):
        started = api(lead).post(
            reverse("project-exports", kwargs={"project_id": project.pk}),
            {"format": "imagefolder"},
            format="json",
        )
    export = Export.objects.get(pk=started.json()["id"])
    download_url = reverse("export-download", kwargs={"export_id": export.pk})
    download = api(lead).get(download_url)

    assert (export.state, export.exported) == (Export.State.SUCCEEDED, 1)
    stored = bucket.read(export.file.name)
    assert export.size == len(stored)
    assert download.status_code == 200
    assert download["Content-Type"] == "application/zip"
    assert b"".join(download.streaming_content) == stored
    # The writer read the item's image from the bucket into the zip.
    with zipfile.ZipFile(io.BytesIO(stored)) as archive:
        name = next(name for name in archive.namelist() if name.startswith("animal/cat/"))
        assert archive.read(name) == bucket.read(item.image.name)
    assert api(outsider).get(download_url).status_code == 404
    assert on_local_disk(settings.MEDIA_ROOT, bucket.keys()) == []


@pytest.mark.django_db
def test_training_reads_an_items_bytes_through_the_storage(bucket, project):
    # What the learning side does for every image: no local path, only default_storage.
    item = item_create(project, 1)

    with default_storage.open(item.image.name, "rb") as stream:
        data = stream.read()

    assert data == bucket.read(item.image.name)
    assert data.startswith(png_bytes(1))
