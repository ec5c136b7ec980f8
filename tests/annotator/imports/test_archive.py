"""Reading an upload: unsafe zip entries refused, the rest imported."""

import stat
import struct
import zipfile

import pytest

from annotator.exceptions import ImportRejected
from annotator.imports.job import images_import
from annotator.models import ImportJob, Item
from tests.annotator.imports.helpers import BAD_FILES, image_bytes, items_of, zip_write


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


def _count_lie(source, count: int, *, zip64: bool) -> None:
    """Make the end record of ``source`` (zip64's, or the classic one) declare ``count``."""
    data = bytearray(source.read_bytes())
    if zip64:  # the zip64 end record's two counts, 56 + 20 + 22 bytes from the end
        struct.pack_into("<QQ", data, len(data) - 98 + 24, count, count)
    else:  # the classic end record's, 22 bytes from the end
        struct.pack_into("<HH", data, len(data) - 22 + 8, count, count)
    source.write_bytes(bytes(data))


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("zip64", "declared", "message"),
    [
        (False, None, "holds 7 entries"),
        (False, 1, "holds more than 6 entries"),  # the end record lies
        (True, None, "holds 7 entries"),
        (True, 1, "holds more than 6 entries"),
    ],
)
def test_zip_of_too_many_entries_is_refused_before_its_directory_is_read(
    project, tmp_path, monkeypatch, zip64, declared, message
):
    monkeypatch.setattr("annotator.imports.job.MAX_IMPORT_FILES", 3)  # up to 6 entries
    with monkeypatch.context() as writing:
        if zip64:  # zipfile writes zip64 end records from this many entries on
            writing.setattr(zipfile, "ZIP_FILECOUNT_LIMIT", 1)
        source = zip_write(tmp_path / "many.zip", [(f"{n}.jpg", b"") for n in range(7)])
    if zip64:  # as zip64 writers do, the classic record says "see the zip64 one"
        _count_lie(source, 0xFFFF, zip64=False)
    if declared is not None:
        _count_lie(source, declared, zip64=zip64)

    def directory_read(archive):
        raise AssertionError("zipfile read the whole central directory")

    monkeypatch.setattr(zipfile.ZipFile, "_RealGetContents", directory_read)

    with pytest.raises(ImportRejected, match=f"{message}: import at most 3 files at a time"):
        images_import(project=project, source=source)

    assert ImportJob.objects.get(project=project).state == ImportJob.State.FAILED


@pytest.mark.django_db
def test_zip_may_hold_a_macos_companion_entry_per_file(project, tmp_path, monkeypatch):
    monkeypatch.setattr("annotator.imports.job.MAX_IMPORT_FILES", 3)
    source = zip_write(
        tmp_path / "mac.zip",
        [(f"{n}.jpg", image_bytes(n)) for n in range(3)]
        + [(f"__MACOSX/._{n}.jpg", b"\0\5\26\7") for n in range(3)],
    )

    job = images_import(project=project, source=source)

    assert (job.state, job.imported) == (ImportJob.State.SUCCEEDED, 3)


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
