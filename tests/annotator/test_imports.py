import io
import random
import stat
import struct
import zipfile
import zlib
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command
from PIL import Image, ImageFile

from annotator.exceptions import ImportRejected
from annotator.imports.images import image_inspect
from annotator.imports.job import images_import, import_job_enqueue, import_job_run
from annotator.models import ImportJob, Item, Membership, Project, Taxonomy
from annotator.tasks import import_run
from annotator.taxonomy.creation import taxonomy_create
from annotator.taxonomy.parsing import taxonomy_json_parse
from tests.factories import ProjectFactory, UserFactory
from tests.learning.core.helpers import THREE_LEVEL, TWO_LEVEL


@pytest.fixture(autouse=True)
def media_root(settings, tmp_path) -> Path:
    settings.MEDIA_ROOT = tmp_path / "media"
    return settings.MEDIA_ROOT


def image_bytes(seed: int, image_format: str = "JPEG", size=(8, 8)) -> bytes:
    """A small image of random pixels: distinct per seed, and incompressible."""
    pixels = random.Random(seed).randbytes(size[0] * size[1] * 3)
    buffer = io.BytesIO()
    Image.frombytes("RGB", size, pixels).save(buffer, format=image_format)
    return buffer.getvalue()


def png_header_only(width: int, height: int) -> bytes:
    """A PNG that claims a size in its header, with (almost) no pixel data behind it."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
        )

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(b"\0" * 64))
        + chunk(b"IEND", b"")
    )


SVG = (
    b'<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>'
)

BAD_FILES = {
    "empty.jpg": (b"", "empty"),
    "truncated.jpg": (image_bytes(1, size=(64, 64))[:700], "truncated"),
    "notes.jpg": (b"just some text, not an image\n", "Not a JPEG, PNG or WebP"),
    "drawing.jpg": (SVG, "SVG"),
    "page.png": (b"<!doctype html><html><body>hi</body></html>", "SVG, HTML"),
    "huge.png": (png_header_only(20_000, 20_000), "larger than the limit"),
}


def write_files(root: Path, files: dict[str, bytes]) -> Path:
    for name, data in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    return root


def items_of(project: Project) -> list[Item]:
    return list(Item.objects.filter(project=project).select_related("ground_truth"))


# --- Taxonomy -------------------------------------------------------------------------


@pytest.mark.django_db
def test_taxonomy_json_two_level():
    project = ProjectFactory()

    taxonomy = taxonomy_create(project=project, data=TWO_LEVEL)

    assert (taxonomy.version, taxonomy.name, taxonomy.levels) == (
        1,
        "cifar10-2level",
        ["coarse", "fine"],
    )
    nodes = {node.path: node for node in taxonomy.nodes.select_related("parent")}
    assert len(nodes) == 12
    assert [(n.path, n.position) for n in nodes.values() if n.depth == 1] == [
        ("vehicle", 0),
        ("animal", 1),
    ]
    cat = nodes["animal/cat"]
    assert (cat.name, cat.depth, cat.position, cat.is_leaf, cat.parent.path) == (
        "cat",
        2,
        1,
        True,
        "animal",
    )
    assert nodes["vehicle/truck"].position == 3
    assert not nodes["animal"].is_leaf and nodes["animal"].parent is None
    assert sum(node.is_leaf for node in nodes.values()) == 10


@pytest.mark.django_db
def test_taxonomy_json_three_level_is_the_next_version(project):
    taxonomy = taxonomy_create(project=project, data=THREE_LEVEL, name="deeper")

    assert (taxonomy.version, taxonomy.name, taxonomy.levels) == (
        2,
        "deeper",
        ["domain", "group", "class"],
    )
    nodes = {node.path: node for node in taxonomy.nodes.select_related("parent")}
    assert len(nodes) == 2 + 4 + 10
    assert [sum(n.depth == depth for n in nodes.values()) for depth in (1, 2, 3)] == [2, 4, 10]
    dog = nodes["animal/mammal/dog"]
    assert (dog.depth, dog.position, dog.is_leaf, dog.parent.path) == (3, 2, True, "animal/mammal")
    mammal = nodes["animal/mammal"]
    assert (mammal.depth, mammal.position, mammal.is_leaf) == (2, 0, False)
    assert nodes["vehicle/other vehicle"].position == 1
    assert {n.path for n in nodes.values() if n.is_leaf} == {
        path for path in nodes if path.count("/") == 2
    }


@pytest.mark.django_db
def test_taxonomy_csv_with_header_and_level_names():
    project = ProjectFactory()
    csv_text = "path\nvehicle/truck\n vehicle/ship \n\nanimal/cat\n"

    taxonomy = taxonomy_create(project=project, csv_text=csv_text, levels=["coarse", "fine"])

    assert taxonomy.levels == ["coarse", "fine"]
    nodes = taxonomy.nodes.order_by("id")
    assert [(n.path, n.depth, n.position, n.is_leaf) for n in nodes] == [
        ("vehicle", 1, 0, False),
        ("animal", 1, 1, False),
        ("vehicle/truck", 2, 0, True),
        ("vehicle/ship", 2, 1, True),
        ("animal/cat", 2, 0, True),
    ]


@pytest.mark.django_db
def test_taxonomy_csv_without_header_names_the_levels():
    project = ProjectFactory()

    taxonomy = taxonomy_create(project=project, csv_text="a/b/c\na/b/d\ne/f/g\n")

    assert taxonomy.levels == ["level1", "level2", "level3"]
    assert taxonomy.nodes.count() == 7
    assert taxonomy.nodes.get(path="a/b/d").depth == 3


def deep_tree(depth: int) -> dict | list:
    return ["leaf"] if depth == 1 else {"n": deep_tree(depth - 1)}


INVALID_JSON_TAXONOMIES = [
    ({"levels": ["a"]}, '"tree"'),
    ({"tree": "cat"}, "must be an object"),
    ({"tree": {"vehicle": []}}, "No children under 'vehicle'"),
    ({"tree": {}}, "No children under the top level"),
    ({"tree": {"": ["cat"]}}, "has an empty name"),
    ({"tree": {"animal": ["cat", "  "]}}, "has an empty name"),
    ({"tree": {"animal/mammal": ["cat"]}}, "may not contain '/'"),
    ({"tree": {"animal": ["cat", "dog", "cat"]}}, "'animal/cat' appears twice"),
    ({"tree": {"animal": ["cat", "cat "]}}, "'animal/cat' appears twice"),
    ({"tree": {"animal": ["cat", {"dog": ["x"]}]}}, "leaf names only"),
    ({"tree": {"animal": ["cat", 7]}}, "leaf names only"),
    ({"levels": ["a", "b", "c"], "tree": {"animal": ["cat"]}}, "2 level(s) deep but 3"),
    ({"tree": {"vehicle": {"road": ["truck"]}, "animal": ["cat"]}}, "same depth"),
    ({"tree": deep_tree(11)}, "deeper than 10 levels"),
    ({"tree": {"x" * 201: ["cat"]}}, "at most 200 characters"),
    ({"levels": "coarse,fine", "tree": {"a": ["b"]}}, "list of level names"),
    ({"levels": ["x", "x"], "tree": {"a": ["b"]}}, "same name"),
    ({"levels": ["x", ""], "tree": {"a": ["b"]}}, "level name is empty"),
]
INVALID_CSV_TAXONOMIES = [
    ("", "no classes"),
    ("path\n", "no classes"),
    ("vehicle//truck\n", "has an empty name"),
    ("vehicle/truck/\n", "has an empty name"),
    ("a/b\na/c\na/b\n", "'a/b' appears twice"),
    ("animal/cat\nanimal/cat/persian\n", "'animal/cat' is a leaf and also has children"),
    ("animal\nanimal/cat\n", "'animal' is a leaf and also has children"),
    ("animal/cat\nvehicle\n", "same depth"),
    ("a/b,c/d\n", "Row 1: write one path per row"),
    ("a/b\n,a/c\n", "Row 2: write one path per row"),
]


@pytest.mark.django_db
@pytest.mark.parametrize(("data", "message"), INVALID_JSON_TAXONOMIES)
def test_taxonomy_json_invalid(data, message):
    project = ProjectFactory()

    with pytest.raises(ImportRejected) as raised:
        taxonomy_create(project=project, data=data)

    assert message in str(raised.value)
    assert not Taxonomy.objects.filter(project=project).exists()


@pytest.mark.django_db
@pytest.mark.parametrize(("csv_text", "message"), INVALID_CSV_TAXONOMIES)
def test_taxonomy_csv_invalid(csv_text, message):
    project = ProjectFactory()

    with pytest.raises(ImportRejected) as raised:
        taxonomy_create(project=project, csv_text=csv_text)

    assert message in str(raised.value)
    assert not Taxonomy.objects.filter(project=project).exists()


@pytest.mark.django_db
def test_taxonomy_csv_level_names_must_match_the_depth():
    with pytest.raises(ImportRejected, match=r"2 level\(s\) deep but 1"):
        taxonomy_create(project=ProjectFactory(), csv_text="a/b\n", levels=["only"])


@pytest.mark.django_db
def test_taxonomy_size_is_limited(monkeypatch):
    monkeypatch.setattr("annotator.taxonomy.parsing.MAX_TAXONOMY_NODES", 5)

    with pytest.raises(ImportRejected, match="more than 5 nodes"):
        taxonomy_create(project=ProjectFactory(), data=TWO_LEVEL)


@pytest.mark.django_db
def test_taxonomy_needs_exactly_one_source():
    with pytest.raises(ImportRejected, match="either"):
        taxonomy_create(project=ProjectFactory(), data=TWO_LEVEL, csv_text="a/b")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('{"tree": {"a": ["b"], "a": ["c"]}}', "'a' appears twice"),
        ('{"tree": ', "not valid JSON"),
        ('["a", "b"]', "must be an object"),
    ],
)
def test_taxonomy_json_parse_rejects(text, message):
    with pytest.raises(ImportRejected, match=message):
        taxonomy_json_parse(text)


# --- Image validation -----------------------------------------------------------------


@pytest.mark.parametrize("image_format", ["JPEG", "PNG", "WEBP"])
def test_image_inspect_accepts_by_content(image_format):
    assert image_inspect(image_bytes(3, image_format, size=(12, 7))) == (image_format, 12, 7)


@pytest.mark.parametrize(("name", "case"), BAD_FILES.items(), ids=list(BAD_FILES))
def test_image_inspect_rejects(name, case):
    data, message = case
    with pytest.raises(ImportRejected, match=message):
        image_inspect(data)


def test_image_size_is_checked_before_decoding(monkeypatch):
    def no_decoding(self):
        raise AssertionError("decoded")

    monkeypatch.setattr(ImageFile.ImageFile, "load", no_decoding)

    with pytest.raises(ImportRejected, match="larger than the limit of 50,000,000 pixels"):
        image_inspect(png_header_only(20_000, 20_000))
    # Below Pillow's own hard limit, ours still stops it (Pillow only warns there).
    with (
        pytest.warns(Image.DecompressionBombWarning),
        pytest.raises(ImportRejected, match="it is 10000x10000"),
    ):
        image_inspect(png_header_only(10_000, 10_000))


def test_image_pixel_limit_comes_from_settings(settings):
    settings.ARBOR_MAX_IMAGE_PIXELS = 50

    with pytest.raises(ImportRejected, match="limit of 50 pixels: it is 8x8"):
        image_inspect(image_bytes(4))


def test_truncated_images_are_not_loaded_leniently():
    assert ImageFile.LOAD_TRUNCATED_IMAGES is False


# --- Image import ---------------------------------------------------------------------


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


def zip_write(path: Path, entries: list[tuple[str | zipfile.ZipInfo, bytes]]) -> Path:
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, data in entries:
            archive.writestr(name, data)
    return path


def symlink_entry(name: str) -> zipfile.ZipInfo:
    info = zipfile.ZipInfo(name)
    info.external_attr = (stat.S_IFLNK | 0o777) << 16
    return info


@pytest.mark.django_db
def test_zip_import_refuses_unsafe_entries_and_imports_the_rest(project, tmp_path):
    source = zip_write(
        tmp_path / "upload.zip",
        [
            ("cifar/cat/ok.jpg", image_bytes(20)),
            ("../evil.jpg", image_bytes(21)),
            ("cifar/../../evil2.jpg", image_bytes(22)),
            ("/etc/absolute.jpg", image_bytes(23)),
            ("C:/windows/drive.jpg", image_bytes(24)),
            (symlink_entry("cifar/cat/link.jpg"), b"/etc/passwd"),
            ("cifar/cat/bomb.jpg", b"\0" * 5_000_000),
            ("cifar/dog/", b""),
            ("cifar/dog/ok.png", image_bytes(25, "PNG")),
            ("__MACOSX/cifar/dog/._ok.png", b"\0\5\26\7"),
            *((f"cifar/bad/{name}", data) for name, (data, _) in BAD_FILES.items()),
        ],
    )

    job = images_import(project=project, source=source)

    assert job.state == ImportJob.State.SUCCEEDED
    assert (job.total, job.imported) == (8 + len(BAD_FILES), 2)
    errors = {error["file"]: error["error"] for error in job.errors}
    assert errors["../evil.jpg"] == "Paths with '..' are not allowed in a zip."
    assert errors["cifar/../../evil2.jpg"] == "Paths with '..' are not allowed in a zip."
    assert errors["/etc/absolute.jpg"] == "Absolute paths are not allowed in a zip."
    assert errors["C:/windows/drive.jpg"] == "Absolute paths are not allowed in a zip."
    assert errors["cifar/cat/link.jpg"] == "Symbolic links are not allowed in a zip."
    assert "zip bomb" in errors["cifar/cat/bomb.jpg"]
    for name, (_, message) in BAD_FILES.items():
        assert message in errors[f"cifar/bad/{name}"]
    assert {item.original_name for item in items_of(project)} == {
        "cifar/cat/ok.jpg",
        "cifar/dog/ok.png",
    }
    assert not (tmp_path.parent / "evil.jpg").exists()


@pytest.mark.django_db
def test_zip_that_unpacks_too_large_is_refused_whole(project, tmp_path, monkeypatch):
    monkeypatch.setattr("annotator.imports.archive.MAX_UNPACKED_BYTES", 1000)
    source = zip_write(tmp_path / "big.zip", [("a.jpg", image_bytes(1)), ("b.bin", b"x" * 1000)])

    with pytest.raises(ImportRejected, match="would unpack to"):
        images_import(project=project, source=source)

    job = ImportJob.objects.get(project=project)
    assert job.state == ImportJob.State.FAILED and "would unpack to" in job.error
    assert not Item.objects.filter(project=project).exists()


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("images.zip", b"PK\3\4 not really", "neither a folder nor a zip"),
        ("missing", None, "does not exist"),
    ],
)
def test_source_that_is_no_folder_or_zip_fails_the_job(project, tmp_path, name, content, message):
    source = tmp_path / name
    if content is not None:
        source.write_bytes(content)

    with pytest.raises(ImportRejected, match=message):
        images_import(project=project, source=source)

    assert ImportJob.objects.get(project=project).state == ImportJob.State.FAILED


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


# --- Jobs run by the worker -----------------------------------------------------------


@pytest.mark.django_db
def test_import_job_runs_once_and_deletes_the_upload(project, lead, tmp_path, media_root):
    (media_root / "imports").mkdir(parents=True)
    upload = zip_write(media_root / "imports" / "x.zip", [("cat/a.jpg", image_bytes(1))])
    job = ImportJob.objects.create(
        project=project, created_by=lead, source=str(upload), with_labels=True
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
    job = ImportJob.objects.create(project=project, source=str(upload))

    import_job_run(job_id=job.pk)

    job.refresh_from_db()
    assert job.state == ImportJob.State.FAILED
    assert "neither a folder nor a zip" in job.error
    assert not upload.exists()


@pytest.mark.django_db
def test_import_job_that_cannot_be_queued_fails(
    project, lead, media_root, monkeypatch, django_capture_on_commit_callbacks
):
    def broker_down(job_id):
        raise ConnectionError("broker down")

    monkeypatch.setattr(import_run, "delay", broker_down)
    (media_root / "imports").mkdir(parents=True)
    upload = zip_write(media_root / "imports" / "x.zip", [("a.jpg", image_bytes(1))])

    with django_capture_on_commit_callbacks(execute=True):
        job = import_job_enqueue(project=project, user=lead, source=upload, with_labels=False)

    job.refresh_from_db()
    assert (job.state, job.error) == (ImportJob.State.FAILED, "The import could not be queued.")
    assert not upload.exists()


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


# --- The create_project command -------------------------------------------------------


def command_run(*args: str) -> tuple[list[str], str]:
    stdout, stderr = io.StringIO(), io.StringIO()
    call_command("create_project", *args, stdout=stdout, stderr=stderr)
    return stdout.getvalue().splitlines(), stderr.getvalue()


@pytest.fixture
def taxonomy_file(tmp_path) -> Path:
    path = tmp_path / "taxonomy.json"
    path.write_text(
        '{"levels": ["coarse", "fine"], "tree": {"vehicle": ["truck"], "animal": ["cat", "dog"]}}'
    )
    return path


@pytest.mark.django_db
def test_create_project_command_end_to_end(tmp_path, taxonomy_file):
    UserFactory(username="lea")
    images = write_files(
        tmp_path / "images",
        {
            "cat/1.jpg": image_bytes(1),
            "cat/2.png": image_bytes(2, "PNG"),
            "dog/3.jpg": image_bytes(3),
            "dog/3-copy.jpg": image_bytes(3),
            "misc/4.jpg": image_bytes(4),
            "dog/broken.jpg": b"",
        },
    )

    lines, progress = command_run(
        "--name", "Pets", "--taxonomy", str(taxonomy_file), "--images", str(images),
        "--labels", "--lead", "lea",
    )  # fmt: skip

    project = Project.objects.get(pk=int(lines[-1]))
    assert lines[-1] == str(project.pk)
    assert project.name == "Pets"
    assert project.taxonomies.get().nodes.count() == 5
    assert Membership.objects.get(project=project).user.username == "lea"
    labels = {item.original_name: item.ground_truth for item in items_of(project)}
    assert {name: node and node.path for name, node in labels.items()} == {
        "cat/1.jpg": "animal/cat",
        "cat/2.png": "animal/cat",
        "dog/3-copy.jpg": "animal/dog",
        "misc/4.jpg": None,
    }
    summary = "\n".join(lines)
    assert "Imported 4 images, 1 duplicates, 1 skipped." in summary
    assert "dog/broken.jpg: The file is empty." in summary
    assert "No ground truth for 1 images in 'misc'" in summary
    assert "6/6 files (100%)" in progress


@pytest.mark.django_db
def test_create_project_command_with_a_csv_taxonomy_and_a_zip(tmp_path):
    taxonomy = tmp_path / "classes.csv"
    taxonomy.write_text("path\nanimal/cat\nvehicle/truck\n")
    images = zip_write(tmp_path / "images.zip", [("truck/1.jpg", image_bytes(1))])

    lines, _ = command_run(
        "--name", "Zip", "--taxonomy", str(taxonomy), "--levels", "coarse,fine",
        "--images", str(images), "--with-labels",
    )  # fmt: skip

    project = Project.objects.get(pk=int(lines[-1]))
    assert project.taxonomies.get().levels == ["coarse", "fine"]
    assert Item.objects.get(project=project).ground_truth.path == "vehicle/truck"


@pytest.mark.django_db
def test_create_project_command_refuses_a_blank_name_or_unknown_lead(tmp_path, taxonomy_file):
    images = write_files(tmp_path / "images", {"a.jpg": image_bytes(1)})
    common = ("--taxonomy", str(taxonomy_file), "--images", str(images))

    with pytest.raises(CommandError, match="A project needs a name"):
        command_run("--name", "  ", *common)
    with pytest.raises(CommandError, match="No user named 'nobody'"):
        command_run("--name", "X", "--lead", "nobody", *common)
    assert not Project.objects.exists()


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("taxonomy_text", "suffix", "images_name", "message"),
    [
        (None, ".json", "images", "No such taxonomy file"),
        ('{"tree": {"a": []}}', ".json", "images", "No children under 'a'"),
        ("{oops", ".json", "images", "not valid JSON"),
        ("a//b\n", ".csv", "images", "has an empty name"),
        ("levels: a", ".yaml", "images", "must be a .json or .csv file"),
        ('{"tree": {"a": ["b"]}}', ".json", "nowhere", "neither a folder nor a zip"),
    ],
)
def test_create_project_command_refuses_bad_input(
    tmp_path, taxonomy_text, suffix, images_name, message
):
    taxonomy = tmp_path / f"taxonomy{suffix}"
    if taxonomy_text is not None:
        taxonomy.write_text(taxonomy_text)
    write_files(tmp_path / "images", {"a.jpg": image_bytes(1)})

    with pytest.raises(CommandError, match=message):
        command_run(
            "--name", "X", "--taxonomy", str(taxonomy), "--images", str(tmp_path / images_name)
        )

    assert not Project.objects.exists()
