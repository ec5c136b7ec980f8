"""Resumable uploads (tus) over the API: chunks, a resume after a part cut short, the
size cap, cleanup of abandoned uploads, and the import the last part starts.

Roles and outsiders on POST, PATCH and DELETE are ``test_permissions.test_role_matrix``;
HEAD, which the route walker does not list, is checked here.
"""

import base64
import datetime as dt
import socket
from urllib.parse import urlsplit

import pytest
from django.core.files.storage import default_storage
from rest_framework.authtoken.models import Token

from annotator.imports.uploads import uploads_expire
from annotator.models import ImportJob, Item, Upload
from tests.factories import png_bytes
from tests.frontend import conftest as frontend_conftest
from tests.helpers import zip_upload

TUS = {"HTTP_TUS_RESUMABLE": "1.0.0"}
# The browser tests' live server: Django's own cannot serve with MEDIA_URL unset.
live_server = frontend_conftest.live_server


@pytest.fixture(autouse=True)
def media_root(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    return settings.MEDIA_ROOT


def zip_bytes() -> bytes:
    return zip_upload(
        {"cat/1.png": png_bytes(1), "dog/2.png": png_bytes(2), "dog/2b.png": png_bytes(2)}
    ).read()


def metadata(**values: str) -> str:
    return ",".join(f"{key} {base64.b64encode(v.encode()).decode()}" for key, v in values.items())


def create(client, project, length: int, **values: str):
    return client.post(
        f"/api/projects/{project.pk}/uploads/",
        HTTP_UPLOAD_LENGTH=str(length),
        HTTP_UPLOAD_METADATA=metadata(**values),
        **TUS,
    )


def send(client, location: str, offset: int, data: bytes):
    return client.generic(
        "PATCH",
        location,
        data,
        content_type="application/offset+octet-stream",
        HTTP_UPLOAD_OFFSET=str(offset),
        **TUS,
    )


def cut_part(live_server, user, location: str, *, offset: int, sent: bytes, promised: int):
    """Send a PATCH over a real connection that closes after ``sent`` of ``promised``
    bytes; the server's answer, once it saw the connection end."""
    token, _ = Token.objects.get_or_create(user=user)
    url = urlsplit(live_server.url)
    with socket.create_connection((url.hostname, url.port), timeout=10) as connection:
        head = (
            f"PATCH {urlsplit(location).path} HTTP/1.1\r\nHost: {url.netloc}\r\n"
            f"Authorization: Token {token.key}\r\nTus-Resumable: 1.0.0\r\n"
            f"Content-Type: application/offset+octet-stream\r\nUpload-Offset: {offset}\r\n"
            f"Content-Length: {promised}\r\nConnection: close\r\n\r\n"
        )
        connection.sendall(head.encode() + sent)
        connection.shutdown(socket.SHUT_WR)
        return connection.recv(1000).split(b"\r\n", 1)[0]


def offset_of(client, location: str) -> int:
    response = client.head(location, **TUS)
    assert response.status_code == 200
    assert response["Cache-Control"] == "no-store"
    return int(response["Upload-Offset"])


@pytest.mark.django_db(transaction=True)
def test_a_chunked_upload_resumes_after_a_part_cut_short_and_starts_the_import(
    live_server, project, lead, api, django_capture_on_commit_callbacks
):
    data = zip_bytes()
    client = api(lead)
    created = create(client, project, len(data), filename="photos.zip", labels="gold")
    assert created.status_code == 201, created.content
    assert created["Tus-Resumable"] == "1.0.0"
    location = created["Location"]
    assert offset_of(client, location) == 0

    first = send(client, location, 0, data[:100])
    assert (first.status_code, first["Upload-Offset"]) == (204, "100")
    # The connection drops during the second part: it promised 400 bytes and sent 50.
    # Nothing of that part is kept; the client asks where to resume.
    answer = cut_part(live_server, lead, location, offset=100, sent=data[100:150], promised=400)
    assert b" 400 " in answer
    assert offset_of(client, location) == 100
    # A part sent at a stale offset is a conflict, and changes nothing.
    assert send(client, location, 0, data[:100]).status_code == 409
    assert offset_of(client, location) == 100

    with django_capture_on_commit_callbacks(execute=True):
        last = send(client, location, 100, data[100:])

    assert last.status_code == 204, last.content
    job = ImportJob.objects.get(pk=last["Arbor-Import-Job"])
    assert (job.state, job.name, job.created_by, job.with_labels) == (
        "succeeded",
        "photos.zip",
        lead,
        True,
    )
    assert (job.imported, job.duplicates) == (2, 1)
    assert (
        Item.objects.get(project=project, original_name="cat/1.png").ground_truth.path
        == "animal/cat"
    )
    assert Upload.objects.get().parts == []
    assert not default_storage.listdir("imports/uploads")[1]  # the parts are gone


@pytest.mark.django_db
def test_the_size_cap_and_bad_headers(project, lead, api, settings):
    settings.ARBOR_MAX_UPLOAD_BYTES = 1000
    client = api(lead)
    too_large = create(client, project, 1001)
    assert too_large.status_code == 413
    assert "1,000" in too_large.json()["detail"]
    assert client.post(f"/api/projects/{project.pk}/uploads/", **TUS).status_code == 400
    assert create(client, project, 10, labels="silver").status_code == 400
    wrong_version = client.post(
        f"/api/projects/{project.pk}/uploads/", HTTP_UPLOAD_LENGTH="10", HTTP_TUS_RESUMABLE="0.2"
    )
    assert wrong_version.status_code == 412
    location = create(client, project, 10)["Location"]
    assert send(client, location, 0, b"x" * 11).status_code == 400  # past Upload-Length
    assert Upload.objects.get().offset == 0


@pytest.mark.django_db
def test_a_finished_upload_that_is_no_zip_is_refused_and_deleted(project, lead, api):
    client = api(lead)
    location = create(client, project, 5)["Location"]
    response = send(client, location, 0, b"hello")
    assert response.status_code == 400
    assert "zip" in response.json()["detail"]
    assert not Upload.objects.exists()
    assert not ImportJob.objects.exists()
    assert not default_storage.listdir("imports/uploads")[1]


@pytest.mark.django_db
def test_outsiders_and_annotators_get_404_from_head(project, lead, annotator, outsider, api):
    location = create(api(lead), project, 10)["Location"]
    for user in (annotator, outsider):
        assert api(user).head(location, **TUS).status_code == 404


@pytest.mark.django_db
def test_termination_and_expiry_delete_the_parts(project, lead, api, settings):
    client = api(lead)
    kept = create(client, project, 10)["Location"]
    abandoned = create(client, project, 10)["Location"]
    terminated = create(client, project, 10)["Location"]
    for location in (kept, abandoned, terminated):
        assert send(client, location, 0, b"12345").status_code == 204
    assert len(default_storage.listdir("imports/uploads")[1]) == 3

    assert client.delete(terminated, **TUS).status_code == 204
    old = dt.timedelta(hours=settings.ARBOR_UPLOAD_EXPIRE_HOURS, minutes=1)
    abandoned_id = abandoned.rstrip("/").rsplit("/", 1)[-1]
    Upload.objects.filter(pk=abandoned_id).update(updated_at=dt.datetime.now(dt.UTC) - old)

    assert uploads_expire() == [abandoned_id]
    assert [str(upload.pk) for upload in Upload.objects.all()] == [
        kept.rstrip("/").rsplit("/", 1)[-1]
    ]
    assert len(default_storage.listdir("imports/uploads")[1]) == 1
    assert client.head(abandoned, **TUS).status_code == 404
