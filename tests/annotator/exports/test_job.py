"""Export files written whole, and export jobs run once in the worker."""

import json

import pytest
from django.utils import timezone

from annotator.exceptions import InvalidInput
from annotator.exports.job import STALE_AFTER, WRITERS, export_run, export_start, exports_recover
from annotator.jobs import Outcome
from annotator.models import Export
from annotator.selectors import taxonomy_current
from tests.annotator.exports.helpers import write
from tests.factories import ProjectFactory


def test_empty_project_gives_valid_files(project, tmp_path):
    for format in ("json", "coco", "csv"):
        out, counts = write(project, tmp_path, format)
        assert counts.exported == 0
    assert json.loads((tmp_path / "out.json").read_text())["items"] == []
    assert json.loads((tmp_path / "out.coco").read_text())["annotations"] == []


def test_export_runs_in_the_worker_and_records_everything(
    project, labeled, lead, django_capture_on_commit_callbacks, monkeypatch, media_root
):
    monkeypatch.setattr("annotator.exports.records.CHUNK_SIZE", 2)
    with django_capture_on_commit_callbacks(execute=True):
        export = export_start(project=project, user=lead, format="json", options={})
    assert export.state == Export.State.QUEUED

    export.refresh_from_db()

    assert export.state == Export.State.SUCCEEDED
    assert (export.total, export.processed, export.exported) == (5, 5, 4)
    assert export.left_out == {"auto_label": 1}
    assert export.taxonomy == taxonomy_current(project=project)
    assert export.model_version.version == 2
    assert export.heartbeat_at and export.finished_at
    assert export.file.name.startswith("exports/") and export.file.name.endswith(".json")
    path = media_root / export.file.name
    assert export.size == path.stat().st_size
    assert json.loads(path.read_text())["export"]["export_id"] == export.pk
    assert [p.name for p in path.parent.iterdir()] == [path.name]  # no partial file left


def test_a_redelivered_task_does_not_run_it_twice(project, labeled, lead, media_root):
    export = export_start(project=project, user=lead, format="csv", options={})
    assert export_run(export_id=export.pk) == Outcome.DONE
    export.refresh_from_db()
    first = export.file.name

    assert export_run(export_id=export.pk) == Outcome.SKIPPED

    export.refresh_from_db()
    assert export.file.name == first
    assert len(list((media_root / "exports").iterdir())) == 1


def test_a_running_export_is_left_alone_unless_its_worker_died(project, labeled, lead):
    from django.utils import timezone

    export = export_start(project=project, user=lead, format="csv", options={})
    Export.objects.filter(pk=export.pk).update(
        state=Export.State.RUNNING, heartbeat_at=timezone.now()
    )
    assert export_run(export_id=export.pk) == Outcome.BUSY

    Export.objects.filter(pk=export.pk).update(heartbeat_at=timezone.now() - STALE_AFTER * 2)
    assert export_run(export_id=export.pk) == Outcome.DONE
    export.refresh_from_db()
    assert export.state == Export.State.SUCCEEDED


def test_a_failing_export_is_marked_failed_and_leaves_no_file(
    project, labeled, lead, monkeypatch, media_root
):
    def broken(spec, records, out, counts):
        out.write_text("half")
        next(records)
        raise OSError("disk full")

    monkeypatch.setitem(WRITERS, Export.Format.CSV, broken)
    export = export_start(project=project, user=lead, format="csv", options={})

    export_run(export_id=export.pk)

    export.refresh_from_db()
    assert export.state == Export.State.FAILED
    assert "unexpected OSError" in export.error
    assert not export.file
    assert list(media_root.glob("exports/**/*")) == []


def test_an_export_requested_while_the_broker_is_down_is_sent_once_it_is_back(
    project, lead, monkeypatch, django_capture_on_commit_callbacks
):
    from annotator import tasks

    def unreachable(*args, **kwargs):
        raise ConnectionError("no broker")

    monkeypatch.setattr(tasks.export_run, "apply_async", unreachable)
    with django_capture_on_commit_callbacks(execute=True):
        export = export_start(project=project, user=lead, format="csv", options={})
    export.refresh_from_db()
    assert export.state == Export.State.QUEUED  # kept, not failed over an outage

    sent = []
    monkeypatch.setattr(tasks.export_run, "apply_async", lambda args, **_: sent.append(args))
    Export.objects.filter(pk=export.pk).update(created_at=timezone.now() - 2 * STALE_AFTER)
    assert exports_recover() == [export.pk]
    assert sent == [(export.pk,)]


def test_a_project_without_taxonomy_cannot_be_exported(lead):
    with pytest.raises(InvalidInput, match="no taxonomy"):
        export_start(project=ProjectFactory(), user=lead, format="csv", options={})


def test_the_admin_shows_an_export(client, project, labeled, lead, admin_user):
    admin_user.is_superuser = True
    admin_user.save()
    export = export_start(project=project, user=lead, format="csv", options={})
    export_run(export_id=export.pk)
    client.force_login(admin_user)

    page = client.get(f"/admin/annotator/export/{export.pk}/change/")

    assert page.status_code == 200
    assert Export.objects.get(pk=export.pk).file.name in page.content.decode()
