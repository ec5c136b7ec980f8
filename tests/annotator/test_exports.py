"""Exports, tested as their consumers use them: csv, json, pycocotools, torchvision."""

import csv
import io
import json
import zipfile
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext
from pycocotools.coco import COCO
from torchvision.datasets import ImageFolder

from annotator.exceptions import InvalidInput
from annotator.exports.job import STALE_AFTER, WRITERS, export_run, export_start, export_write
from annotator.exports.options import ExportOptions, export_options_clean, export_spec_build
from annotator.exports.records import ExportCounts
from annotator.imports.job import images_import
from annotator.jobs import Outcome
from annotator.models import Annotation, Export, Item
from annotator.selectors import taxonomy_current
from annotator.taxonomy.creation import taxonomy_create
from tests.annotator.export_data import annotate, model_version, predict
from tests.factories import ProjectFactory, UserFactory, item_create, taxonomy_build

AUTO = Annotation.Source.AUTO


@pytest.fixture(autouse=True)
def media_root(settings, tmp_path) -> Path:
    settings.MEDIA_ROOT = tmp_path / "media"
    return settings.MEDIA_ROOT


@pytest.fixture
def people(db):
    return {name: UserFactory(username=name) for name in ("alice", "bob", "carol")}


@pytest.fixture
def labeled(project, people):
    """Items covering each case of the label rule, keyed by what they show."""
    alice, bob, carol = people["alice"], people["bob"], people["carol"]
    items = {
        name: item_create(project, seed)
        for seed, name in enumerate(
            ["agreed", "majority", "coarse", "auto", "unlabeled", "tie"], start=1
        )
    }
    annotate(items["agreed"], "animal/cat", source=AUTO, minute=0)
    annotate(items["agreed"], "animal/cat", annotator=alice, minute=1)
    annotate(items["agreed"], "animal/cat", annotator=bob, minute=2, source="confirmed")
    annotate(items["majority"], "vehicle/truck", annotator=alice, minute=1)
    annotate(items["majority"], "vehicle/airplane", annotator=bob, minute=2)
    annotate(items["majority"], "vehicle/truck", annotator=carol, minute=3, source="corrected")
    annotate(items["coarse"], "animal", annotator=alice, minute=1)
    annotate(items["auto"], "animal/dog", source=AUTO, minute=1)
    annotate(items["tie"], "animal/frog", annotator=alice, minute=1)
    annotate(items["tie"], "animal/dog", annotator=bob, minute=2)
    first, second = model_version(project, 1), model_version(project, 2)
    predict(items["agreed"], "animal/cat", version=first, confidence=0.9)
    predict(items["agreed"], "animal/dog", version=second, confidence=0.7)
    predict(items["majority"], "vehicle/truck", version=first, confidence=0.6)
    return items


def write(project, tmp_path, format: str, **options) -> tuple[Path, ExportCounts]:
    cleaned = export_options_clean(format=format, options=options)
    spec = export_spec_build(project=project, format=format, options=cleaned)
    out = tmp_path / f"out.{format}"
    return out, export_write(spec=spec, destination=out)


def csv_rows(path: Path) -> dict[str, dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as stream:
        return {row["file"]: row for row in csv.DictReader(stream)}


def unzip(path: Path, folder: Path) -> Path:
    with zipfile.ZipFile(path) as archive:
        archive.extractall(folder)
    return folder


# --- CSV ------------------------------------------------------------------------------


def test_csv_has_one_row_per_labeled_item(project, labeled, tmp_path):
    out, counts = write(project, tmp_path, "csv")

    rows = csv_rows(out)
    with out.open(encoding="utf-8") as stream:
        header = next(csv.reader(stream))

    assert header[:6] == ["file", "image_hash", "item_id", "coarse", "fine", "label"]
    assert set(rows) == {"1.png", "2.png", "3.png", "6.png"}  # no auto, no unlabeled
    agreed = rows["1.png"]
    assert agreed["image_hash"] == labeled["agreed"].content_hash
    assert (agreed["coarse"], agreed["fine"], agreed["label"]) == (
        "animal",
        "animal/cat",
        "animal/cat",
    )
    assert agreed["source"] == "confirmed"
    assert agreed["annotators"] == "alice;bob"
    assert agreed["human_annotations"] == "2"
    assert agreed["agreement"] == "1.0"
    # The newest model's prediction, whatever it says.
    assert (agreed["model_version"], agreed["confidence"]) == ("2", "0.7")
    assert agreed["taxonomy_version"] == "1"
    assert agreed["created_at"] and agreed["labeled_at"].startswith("20")
    majority = rows["2.png"]
    assert (majority["label"], majority["source"], majority["agreement"]) == (
        "vehicle/truck",
        "corrected",
        "0.6667",
    )
    assert majority["annotators"] == "alice;bob;carol"
    assert (majority["model_version"], majority["confidence"]) == ("1", "0.6")
    assert (rows["3.png"]["coarse"], rows["3.png"]["fine"], rows["3.png"]["label"]) == (
        "animal",
        "",
        "animal",
    )
    assert rows["6.png"]["label"] == "animal/dog"  # a tie goes to the most recent
    assert rows["6.png"]["model_version"] == ""
    assert counts.exported == 4
    assert counts.left_out == {"auto_label": 1}


def test_csv_labels_go_back_in_through_the_importer(project, labeled, tmp_path):
    out, _ = write(project, tmp_path, "csv")
    rows = csv_rows(out).values()
    leaf_paths = sorted({row["fine"] for row in rows if row["fine"]})

    copy = ProjectFactory()
    taxonomy = taxonomy_create(
        project=copy, csv_text="path\n" + "\n".join(leaf_paths), levels=["coarse", "fine"]
    )

    leaves = taxonomy.nodes.filter(is_leaf=True)
    assert sorted(leaves.values_list("path", flat=True)) == leaf_paths
    assert taxonomy.levels == taxonomy_current(project=project).levels


def test_a_level_named_like_a_column_does_not_shadow_it(tmp_path, people):
    project = ProjectFactory()
    taxonomy_build(project, {"a": ["b"]}, levels=("label", "fine"))
    annotate(item_create(project, 1), "a/b", annotator=people["alice"])

    out, _ = write(project, tmp_path, "csv")

    row = next(iter(csv_rows(out).values()))
    assert (row["level_label"], row["fine"], row["label"]) == ("a", "a/b", "a/b")


# --- JSON -----------------------------------------------------------------------------


def test_json_holds_full_records_with_the_taxonomy(project, labeled, tmp_path):
    out, _ = write(project, tmp_path, "json")

    data = json.loads(out.read_text(encoding="utf-8"))

    export = data["export"]
    assert export["project"] == {"id": project.id, "name": project.name}
    assert export["taxonomy"]["version"] == 1
    assert export["model_version"]["version"] == 2
    assert export["arbor_version"] and export["as_of"] and export["created_at"]
    assert export["filters"] == {
        "human_only": False,
        "include_auto": False,
        "min_agreement": None,
        "layout": None,
    }
    assert data["taxonomy"]["levels"] == ["coarse", "fine"]
    assert {node["path"] for node in data["taxonomy"]["nodes"]} >= {"animal", "animal/cat"}
    records = {record["file"]: record for record in data["items"]}
    assert set(records) == {"1.png", "2.png", "3.png", "6.png"}
    agreed = records["1.png"]
    assert agreed["label"]["path"] == "animal/cat"
    assert agreed["label"]["agreement"] == [1.0, 1.0]
    assert [(a["annotator"], a["source"]) for a in agreed["annotations"]] == [
        (None, "auto"),
        ("alice", "manual"),
        ("bob", "confirmed"),
    ]
    assert agreed["annotations"][1]["duration_ms"] == 1500
    assert agreed["prediction"]["model_version"] == 2
    assert agreed["prediction"]["path"] == "animal/dog"
    assert records["6.png"]["prediction"] is None
    assert data["counts"] == {"exported": 4, "left_out": {"auto_label": 1}}


def test_empty_project_gives_valid_files(project, tmp_path):
    for format in ("json", "coco", "csv"):
        out, counts = write(project, tmp_path, format)
        assert counts.exported == 0
    assert json.loads((tmp_path / "out.json").read_text())["items"] == []
    assert json.loads((tmp_path / "out.coco").read_text())["annotations"] == []


# --- COCO -----------------------------------------------------------------------------


def test_pycocotools_loads_the_coco_file(project, labeled, tmp_path):
    out, _ = write(project, tmp_path, "coco")

    coco = COCO(str(out))

    cats = {cat["path"]: cat for cat in coco.loadCats(coco.getCatIds())}
    assert cats["animal/cat"]["supercategory"] == "animal"
    assert cats["vehicle/truck"]["supercategory"] == "vehicle"
    assert cats["animal"]["supercategory"] == "animal"  # a top node is its own
    assert len(cats) == 7  # every node, so coarse-only labels keep theirs
    images = {image["original_name"]: image for image in coco.loadImgs(coco.getImgIds())}
    assert set(images) == {"1.png", "2.png", "3.png", "6.png"}
    agreed = images["1.png"]
    assert agreed["file_name"] == f"{labeled['agreed'].content_hash}.png"
    assert (agreed["width"], agreed["height"]) == (8, 8)

    def category_of(name: str) -> str:
        (annotation,) = coco.loadAnns(coco.getAnnIds(imgIds=[images[name]["id"]]))
        assert annotation["bbox"] == [0, 0, 8, 8] and annotation["area"] == 64
        return coco.loadCats(annotation["category_id"])[0]["path"]

    assert category_of("1.png") == "animal/cat"
    assert category_of("2.png") == "vehicle/truck"
    assert category_of("3.png") == "animal"
    assert coco.getImgIds(catIds=[cats["animal/dog"]["id"]]) == [labeled["tie"].id]
    assert coco.dataset["info"]["taxonomy"]["version"] == 1
    assert coco.dataset["info"]["model_version"]["version"] == 2


# --- ImageFolder ----------------------------------------------------------------------


def test_torchvision_loads_the_flat_zip(project, labeled, tmp_path):
    out, counts = write(project, tmp_path, "imagefolder", layout="flat")

    dataset = ImageFolder(unzip(out, tmp_path / "flat"))

    assert dataset.classes == ["cat", "dog", "truck"]
    assert len(dataset) == 3
    image, target = dataset[0]
    assert image.size == (8, 8) and dataset.classes[target] == "cat"
    assert counts.left_out == {"auto_label": 1, "coarse_only": 1}
    provenance = json.loads((tmp_path / "flat" / "PROVENANCE.json").read_text())
    assert provenance["layout"] == "flat"
    assert provenance["left_out"] == {"auto_label": 1, "coarse_only": 1}
    assert provenance["taxonomy"]["version"] == 1


def test_torchvision_loads_the_nested_zip_with_coarse_labels_in_their_folder(
    project, labeled, tmp_path
):
    out, counts = write(project, tmp_path, "imagefolder")

    folder = unzip(out, tmp_path / "nested")
    dataset = ImageFolder(folder)

    assert dataset.classes == ["animal", "vehicle"]
    assert len(dataset) == 4
    coarse = labeled["coarse"].content_hash
    assert (folder / "animal" / f"{coarse}.png").is_file()
    assert (folder / "animal" / "cat" / f"{labeled['agreed'].content_hash}.png").is_file()
    assert counts.exported == 4


def test_imagefolder_zip_goes_back_in_with_the_same_labels(project, labeled, tmp_path):
    out, _ = write(project, tmp_path, "imagefolder")
    copy = ProjectFactory()
    taxonomy_build(copy)

    job = images_import(project=copy, source=out, with_labels=True)

    assert job.imported == 4
    assert [error["file"] for error in job.errors] == ["PROVENANCE.json"]
    truth = dict(
        Item.objects.filter(project=copy).values_list("content_hash", "ground_truth__path")
    )
    assert truth == {
        labeled["agreed"].content_hash: "animal/cat",
        labeled["majority"].content_hash: "vehicle/truck",
        labeled["tie"].content_hash: "animal/dog",
        labeled["coarse"].content_hash: None,  # coarse-only: no leaf to give
    }


def test_flat_layout_keeps_leaves_with_one_name_apart(tmp_path, people):
    project = ProjectFactory()
    taxonomy_build(project, {"vehicle": ["other"], "animal": ["other", "cat"]})
    annotate(item_create(project, 1), "vehicle/other", annotator=people["alice"])
    annotate(item_create(project, 2), "animal/other", annotator=people["alice"])
    annotate(item_create(project, 3), "animal/cat", annotator=people["alice"])

    out, _ = write(project, tmp_path, "imagefolder", layout="flat")

    assert ImageFolder(unzip(out, tmp_path / "flat")).classes == [
        "animal__other",
        "cat",
        "vehicle__other",
    ]


def test_folder_names_cannot_climb_out(tmp_path, people):
    project = ProjectFactory()
    taxonomy_build(project, {"..": [".."]})
    annotate(item_create(project, 1), "../..", annotator=people["alice"])

    out, _ = write(project, tmp_path, "imagefolder")

    with zipfile.ZipFile(out) as archive:
        names = archive.namelist()
    assert names[0].startswith("_../_../") and len(names) == 2


# --- Filters --------------------------------------------------------------------------


def test_include_auto_adds_auto_labels_with_their_source(project, labeled, tmp_path):
    out, counts = write(project, tmp_path, "csv", include_auto=True)

    auto = csv_rows(out)["4.png"]
    assert (auto["label"], auto["source"], auto["annotators"], auto["agreement"]) == (
        "animal/dog",
        "auto",
        "",
        "",
    )
    assert counts.exported == 5 and not counts.left_out


def test_human_only_drops_auto_answers_from_the_records(project, labeled, tmp_path):
    out, counts = write(project, tmp_path, "json", human_only=True)

    records = {r["file"]: r for r in json.loads(out.read_text())["items"]}
    assert [a["source"] for a in records["1.png"]["annotations"]] == ["manual", "confirmed"]
    assert "4.png" not in records
    assert counts.left_out == {"auto_label": 1}


def test_min_agreement(project, labeled, tmp_path):
    out, counts = write(project, tmp_path, "csv", min_agreement=0.6)

    assert set(csv_rows(out)) == {"1.png", "2.png", "3.png"}  # the tie agrees at 0.5
    assert counts.left_out == {"auto_label": 1, "below_min_agreement": 1}


def test_annotations_after_the_request_are_not_exported(project, people, tmp_path):
    item = item_create(project, 1)
    annotate(item, "animal/cat", annotator=people["alice"])
    spec = export_spec_build(project=project, format="csv", options=ExportOptions())
    late = annotate(item, "animal/dog", annotator=people["bob"], minute=60 * 48)
    assert late.created_at > spec.as_of

    counts = export_write(spec=spec, destination=tmp_path / "out.csv")

    assert csv_rows(tmp_path / "out.csv")["1.png"]["label"] == "animal/cat"
    assert counts.exported == 1


@pytest.mark.parametrize(
    "format, options, message",
    [
        ("xml", {}, "Unknown format"),
        ("csv", [], "must be an object"),
        ("csv", {"colour": 1}, "Unknown option(s) colour"),
        ("csv", {"human_only": "yes"}, "human_only must be true or false"),
        ("csv", {"human_only": True, "include_auto": True}, "exclude each other"),
        ("csv", {"min_agreement": 1.5}, "from 0 to 1"),
        ("csv", {"min_agreement": True}, "from 0 to 1"),
        ("csv", {"layout": "flat"}, "imagefolder exports only"),
        ("imagefolder", {"layout": "tree"}, "layout must be one of"),
    ],
)
def test_bad_options_are_refused(format, options, message):
    with pytest.raises(InvalidInput, match=message.replace("(", r"\(").replace(")", r"\)")):
        export_options_clean(format=format, options=options)


def test_imagefolder_layout_defaults_to_nested():
    assert export_options_clean(format="imagefolder", options=None).layout == "nested"


# --- Streaming ------------------------------------------------------------------------


def _labeled_items(project, seeds: range, user, version) -> None:
    for seed in seeds:
        item = item_create(project, seed)
        annotate(item, "animal/cat", annotator=user)
        predict(item, "animal/cat", version=version, confidence=0.5)


@pytest.mark.parametrize("format", ["csv", "json", "coco", "imagefolder"])
def test_queries_per_chunk_are_pinned(
    project, people, tmp_path, monkeypatch, django_assert_max_num_queries, format
):
    """Items, annotations and predictions: three queries per chunk, whatever its size."""
    monkeypatch.setattr("annotator.exports.records.CHUNK_SIZE", 4)
    version = model_version(project)
    options = ExportOptions(layout="nested" if format == "imagefolder" else None)

    def queries(count: int) -> int:
        spec = export_spec_build(project=project, format=format, options=options)
        with CaptureQueriesContext(connection) as captured:
            export_write(spec=spec, destination=tmp_path / "out")
        return len(captured)

    _labeled_items(project, range(100, 108), people["alice"], version)
    two_chunks = queries(8)
    _labeled_items(project, range(200, 208), people["bob"], version)  # 16 items: four chunks
    spec = export_spec_build(project=project, format=format, options=options)
    # count + 3 per chunk + the empty last page + the taxonomy (json, coco, imagefolder)
    with django_assert_max_num_queries(1 + 3 * 4 + 1 + 1):
        export_write(spec=spec, destination=tmp_path / "out")
    assert queries(16) - two_chunks == 3 * 2


def test_progress_is_reported_per_chunk(project, labeled, tmp_path, monkeypatch):
    monkeypatch.setattr("annotator.exports.records.CHUNK_SIZE", 2)
    seen = []
    spec = export_spec_build(project=project, format="csv", options=ExportOptions())

    export_write(
        spec=spec,
        destination=tmp_path / "out.csv",
        progress=lambda counts: seen.append((counts.processed, counts.total)),
    )

    assert seen == [(0, 5), (2, 5), (4, 5), (5, 5)]


# --- In the worker --------------------------------------------------------------------


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
    assert list((media_root / "exports").iterdir()) == []


def test_an_export_that_cannot_be_queued_fails_at_once(
    project, lead, monkeypatch, django_capture_on_commit_callbacks
):
    from annotator import tasks

    def unreachable(*args, **kwargs):
        raise ConnectionError("no broker")

    monkeypatch.setattr(tasks.export_run, "apply_async", unreachable)
    with django_capture_on_commit_callbacks(execute=True):
        export = export_start(project=project, user=lead, format="csv", options={})

    export.refresh_from_db()
    assert export.state == Export.State.FAILED
    assert export.error == "The export could not be queued."


def test_a_project_without_taxonomy_cannot_be_exported(lead):
    with pytest.raises(InvalidInput, match="no taxonomy"):
        export_start(project=ProjectFactory(), user=lead, format="csv", options={})


# --- Command line ---------------------------------------------------------------------


def test_the_command_writes_a_file(project, labeled, tmp_path):
    out = tmp_path / "labels.zip"
    stdout, stderr = io.StringIO(), io.StringIO()

    call_command(
        "export",
        "--project",
        str(project.id),
        "--format",
        "imagefolder",
        "--out",
        str(out),
        "--layout",
        "flat",
        "--min-agreement",
        "0.6",
        stdout=stdout,
        stderr=stderr,
    )

    assert ImageFolder(unzip(out, tmp_path / "x")).classes == ["cat", "truck"]
    assert "Exported 2 items" in stdout.getvalue()
    assert "5/5 items" in stderr.getvalue()


def test_the_command_refuses_bad_options(project, tmp_path):
    with pytest.raises(CommandError, match="exclude each other"):
        call_command(
            "export",
            *("--project", str(project.id), "--format", "csv", "--out", str(tmp_path / "x")),
            "--human-only",
            "--include-auto",
        )
    with pytest.raises(CommandError, match="No project"):
        call_command("export", "--project", "0", "--format", "csv", "--out", str(tmp_path / "x"))


def test_the_admin_shows_an_export(client, project, labeled, lead, admin_user):
    admin_user.is_superuser = True
    admin_user.save()
    export = export_start(project=project, user=lead, format="csv", options={})
    export_run(export_id=export.pk)
    client.force_login(admin_user)

    page = client.get(f"/admin/annotator/export/{export.pk}/change/")

    assert page.status_code == 200
    assert Export.objects.get(pk=export.pk).file.name in page.content.decode()
