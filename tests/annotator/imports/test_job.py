"""Import jobs: items stored once, folder labels, progress, and runs in the worker."""

import pytest
from django.core.files.storage import default_storage
from django.db import connection
from django.utils import timezone

from annotator.imports.archive import StoredZip
from annotator.imports.job import (
    STALE_AFTER,
    images_import,
    import_job_enqueue,
    import_job_run,
    imports_recover,
)
from annotator.models import ImportJob, Item
from annotator.tasks import import_run
from annotator.taxonomy.creation import taxonomy_create
from tests.annotator.imports.helpers import (
    BAD_FILES,
    image_bytes,
    items_of,
    write_files,
    zip_write,
)
from tests.factories import ProjectFactory


@pytest.mark.django_db
def test_folder_import_reports_bad_files_and_imports_the_rest(project, tmp_path, media_root):
    good = {
        "cat/a.jpg": image_bytes(10),
        "cat/b.png": image_bytes(11, "PNG", size=(5, 9)),
        "dog/c.webp": image_bytes(12, "WEBP"),
        "dog/d.txt": image_bytes(13),  # the name does not matter, the bytes do
        ".DS_Store": b"\0\0\0\1Bud1",
    }
    bad = {f"bad/{name}": data for name, (data, _) in BAD_FILES.items()}
    source = write_files(tmp_path / "images", good | bad)
    calls = []

    job = images_import(
        project=project, source=source, progress=lambda done, total: calls.append((done, total))
    )

    assert job.state == ImportJob.State.SUCCEEDED and job.finished_at is not None
    assert (job.total, job.processed, job.imported, job.duplicates) == (10, 10, 4, 0)
    errors = {error["file"]: error["error"] for error in job.errors}
    assert set(errors) == {f"bad/{name}" for name in BAD_FILES}
    for name, (_, message) in BAD_FILES.items():
        assert message in errors[f"bad/{name}"]
    assert calls[-1] == (10, 10)
    items = {item.original_name: item for item in items_of(project)}
    assert set(items) == {"cat/a.jpg", "cat/b.png", "dog/c.webp", "dog/d.txt"}
    png = items["cat/b.png"]
    assert (png.format, png.width, png.height, png.ground_truth) == ("PNG", 5, 9, None)
    assert items["dog/d.txt"].format == "JPEG"
    # Stored under generated names, byte for byte.
    assert png.image.name == f"projects/{project.pk}/{png.content_hash[:2]}/{png.content_hash}.png"
    assert (media_root / png.image.name).read_bytes() == good["cat/b.png"]
    assert ImportJob.objects.get(pk=job.pk).imported == 4


@pytest.mark.django_db
def test_same_image_is_imported_once(project, tmp_path, monkeypatch):
    monkeypatch.setattr("annotator.imports.job.BATCH_SIZE", 2)  # duplicates across batches too
    first = write_files(
        tmp_path / "first",
        {
            "cat/a.jpg": image_bytes(1),
            "cat/b.jpg": image_bytes(2),
            "dog/a-again.jpg": image_bytes(1),
            "dog/c.jpg": image_bytes(3),
            "dog/b-again.jpg": image_bytes(2),
        },
    )
    second = write_files(tmp_path / "second", {"x.jpg": image_bytes(2), "y.jpg": image_bytes(4)})

    job = images_import(project=project, source=first)
    again = images_import(project=project, source=second)

    assert (job.imported, job.duplicates) == (3, 2)
    assert (again.imported, again.duplicates) == (1, 1)
    assert Item.objects.filter(project=project).count() == 4
    # Another project may hold the same image.
    other = images_import(project=ProjectFactory(), source=second)
    assert (other.imported, other.duplicates) == (2, 0)


@pytest.mark.django_db
def test_concurrent_import_of_the_same_image_keeps_one_row_and_file(
    project, tmp_path, monkeypatch, media_root
):
    source = write_files(tmp_path / "images", {"a.jpg": image_bytes(1), "b.jpg": image_bytes(2)})
    images_import(project=project, source=source)
    # As if a concurrent import stored the images between the check and the insert.
    monkeypatch.setattr("annotator.imports.job._hashes_present", lambda **kwargs: set())

    job = images_import(project=project, source=source)

    assert (job.imported, job.duplicates) == (0, 2)
    assert Item.objects.filter(project=project).count() == 2
    stored = [path for path in (media_root / "projects").rglob("*") if path.is_file()]
    assert sorted(stored) == sorted(media_root / item.image.name for item in items_of(project))


@pytest.mark.django_db
def test_folder_names_give_ground_truth_with_labels(project, tmp_path):
    # The project's taxonomy: vehicle/{airplane, truck}, animal/{cat, dog, frog}.
    source = write_files(
        tmp_path / "images",
        {
            "cat/1.jpg": image_bytes(1),
            "cat/2.jpg": image_bytes(2),
            "train/truck/3.jpg": image_bytes(3),
            "animal/dog/4.jpg": image_bytes(4),
            "vehicle/frog/5.jpg": image_bytes(5),  # the leaf name wins
            "animal/6.jpg": image_bytes(6),  # an inner node is no label
            "misc/7.jpg": image_bytes(7),
            "misc/8.jpg": image_bytes(8),
            "9.jpg": image_bytes(9),
        },
    )

    job = images_import(project=project, source=source, with_labels=True)

    labels = {item.original_name: item.ground_truth for item in items_of(project)}
    assert {name: node.path for name, node in labels.items() if node} == {
        "cat/1.jpg": "animal/cat",
        "cat/2.jpg": "animal/cat",
        "train/truck/3.jpg": "vehicle/truck",
        "animal/dog/4.jpg": "animal/dog",
        "vehicle/frog/5.jpg": "animal/frog",
    }
    assert job.unmatched_folders == [
        {"folder": ".", "files": 1},
        {"folder": "animal", "files": 1},
        {"folder": "misc", "files": 2},
    ]
    assert all(item.state == Item.State.UNLABELED for item in items_of(project))


@pytest.mark.django_db
def test_ambiguous_leaf_names_need_the_full_path(tmp_path):
    project = ProjectFactory()
    taxonomy_create(project=project, data={"tree": {"a": ["other", "x"], "b": ["other", "y"]}})
    source = write_files(
        tmp_path / "images",
        {"other/1.jpg": image_bytes(1), "b/other/2.jpg": image_bytes(2)},
    )

    job = images_import(project=project, source=source, with_labels=True)

    labels = {item.original_name: item.ground_truth for item in items_of(project)}
    assert labels["other/1.jpg"] is None
    assert labels["b/other/2.jpg"].path == "b/other"
    assert job.unmatched_folders == [{"folder": "other", "files": 1}]


@pytest.mark.django_db
def test_without_labels_folders_are_ignored(project, tmp_path):
    source = write_files(tmp_path / "images", {"cat/1.jpg": image_bytes(1)})

    job = images_import(project=project, source=source)

    assert Item.objects.get(project=project).ground_truth is None
    assert job.unmatched_folders == []


@pytest.mark.django_db
def test_progress_is_saved_as_the_import_goes(project, tmp_path, monkeypatch):
    monkeypatch.setattr("annotator.imports.job.BATCH_SIZE", 2)
    source = write_files(tmp_path / "images", {f"{n}.jpg": image_bytes(n) for n in range(5)})
    seen = []

    def progress(done: int, total: int) -> None:
        job = ImportJob.objects.get(project=project)
        seen.append((done, total, job.processed, job.imported))

    images_import(project=project, source=source, progress=progress)

    assert seen == [(2, 5, 2, 2), (4, 5, 4, 4), (5, 5, 5, 5)]


@pytest.mark.django_db
def test_import_job_runs_once_and_deletes_the_upload(project, lead, tmp_path, media_root):
    (media_root / "imports").mkdir(parents=True)
    upload = zip_write(media_root / "imports" / "x.zip", [("cat/a.jpg", image_bytes(1))])
    # A stored upload is named in the storage (here MEDIA_ROOT), not by a local path.
    job = ImportJob.objects.create(
        project=project, created_by=lead, source="imports/x.zip", with_labels=True
    )

    import_run.delay(job.pk)
    import_job_run(job_id=job.pk)  # a redelivered task finds the job claimed

    job.refresh_from_db()
    assert (job.state, job.imported) == (ImportJob.State.SUCCEEDED, 1)
    assert Item.objects.get(project=project).ground_truth.path == "animal/cat"
    assert not upload.exists()


@pytest.mark.django_db
def test_import_job_already_claimed_is_left_alone(project, tmp_path):
    source = write_files(tmp_path / "images", {"a.jpg": image_bytes(1)})
    job = ImportJob.objects.create(
        project=project, source=str(source), state=ImportJob.State.RUNNING
    )

    import_job_run(job_id=job.pk)

    assert not Item.objects.filter(project=project).exists()
    assert ImportJob.objects.get(pk=job.pk).state == ImportJob.State.RUNNING


@pytest.mark.django_db
def test_import_job_of_a_folder_keeps_the_folder(project, tmp_path):
    source = write_files(tmp_path / "images", {"a.jpg": image_bytes(1)})
    job = ImportJob.objects.create(project=project, source=str(source))

    import_job_run(job_id=job.pk)

    assert ImportJob.objects.get(pk=job.pk).state == ImportJob.State.SUCCEEDED
    assert (source / "a.jpg").exists()


@pytest.mark.django_db
def test_import_job_with_a_bad_zip_fails_with_its_reason(project, media_root):
    (media_root / "imports").mkdir(parents=True)
    upload = media_root / "imports" / "bad.zip"
    upload.write_bytes(b"not a zip")
    job = ImportJob.objects.create(project=project, source="imports/bad.zip")

    import_job_run(job_id=job.pk)

    job.refresh_from_db()
    assert job.state == ImportJob.State.FAILED
    assert job.error == "The uploaded file is not a zip file."
    assert not upload.exists()


@pytest.mark.django_db
def test_an_import_queued_while_the_broker_is_down_is_sent_once_it_is_back(
    project, lead, media_root, monkeypatch, django_capture_on_commit_callbacks
):
    def broker_down(job_id):
        raise ConnectionError("broker down")

    monkeypatch.setattr(import_run, "delay", broker_down)
    (media_root / "imports").mkdir(parents=True)
    upload = zip_write(media_root / "imports" / "x.zip", [("a.jpg", image_bytes(1))])

    with django_capture_on_commit_callbacks(execute=True):
        job = import_job_enqueue(
            project=project,
            user=lead,
            source=StoredZip(default_storage, "imports/x.zip"),
            with_labels=False,
        )

    job.refresh_from_db()
    assert job.state == ImportJob.State.QUEUED  # kept, with its upload, over an outage
    assert upload.exists()
    sent = []
    monkeypatch.setattr(import_run, "delay", sent.append)
    ImportJob.objects.filter(pk=job.pk).update(created_at=timezone.now() - 2 * STALE_AFTER)
    assert imports_recover() == [job.pk]
    assert sent == [job.pk]


@pytest.mark.django_db
def test_unexpected_error_fails_the_job_without_details(project, tmp_path, monkeypatch):
    def database_gone(**kwargs):
        raise RuntimeError("connection to /secret/path lost")

    monkeypatch.setattr("annotator.imports.job._hashes_present", database_gone)
    source = write_files(tmp_path / "images", {"a.jpg": image_bytes(1)})

    with pytest.raises(RuntimeError):
        images_import(project=project, source=source)

    job = ImportJob.objects.get(project=project)
    assert job.state == ImportJob.State.FAILED
    assert job.error == "The import stopped on an unexpected RuntimeError; see the log."


def _item_rows_planned() -> float:
    with connection.cursor() as cursor:
        cursor.execute("SELECT reltuples FROM pg_class WHERE relname = 'annotator_item'")
        return cursor.fetchone()[0]


@pytest.mark.django_db
def test_a_large_import_refreshes_the_planners_statistics(project, tmp_path, monkeypatch):
    # Without it the queue's query is planned on the table as it was before the import.
    source = write_files(tmp_path / "images", {f"{n}.jpg": image_bytes(n) for n in range(3)})
    job = ImportJob.objects.create(project=project, source=str(source))
    monkeypatch.setattr("annotator.imports.job.STATISTICS_AFTER_ITEMS", 3)
    planned = _item_rows_planned()

    import_job_run(job_id=job.pk)

    assert planned < 3 <= _item_rows_planned()
