"""The files of a folder or zip to import, each checked before it is read."""

import os
import re
import stat
import struct
import zipfile
import zlib
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from functools import partial
from pathlib import Path, PurePosixPath
from typing import BinaryIO

from django.core.files.storage import Storage

from annotator.exceptions import ImportRejected

# Limits on one file and on a whole zip.
MAX_FILE_BYTES = 64 * 1024**2
MAX_UNPACKED_BYTES = 16 * 1024**3
# JPEG, PNG and WebP are compressed already: a zip entry that deflates much better than
# 20:1 is not one of them, and at 1000:1 and more it is a zip bomb.
MAX_COMPRESSION_RATIO = 100
# Folders and macOS's __MACOSX/._name companions are entries too: a zip of images may
# hold about twice as many entries as files.
ENTRIES_PER_FILE = 2
# A central directory record: its signature, then the lengths of the name, extra field
# and comment that follow its 46 fixed bytes.
_CENTRAL_RECORD = struct.Struct("<4s24xHHH12x")
_DRIVE_LETTER = re.compile(r"^[A-Za-z]:")


@dataclass(frozen=True)
class StoredZip:
    """A zip kept in a storage (an upload), read through the storage API: a worker on
    another machine reads it as well."""

    storage: Storage
    name: str

    def __str__(self) -> str:
        return self.name


@dataclass(frozen=True)
class Entry:
    name: str  # path inside the folder or zip, for the report
    folders: tuple[str, ...]  # parent folders, for labels
    read: Callable[[], bytes]  # raises ImportRejected


def _is_hidden(parts: Sequence[str]) -> bool:
    # Finder and git leave metadata (.DS_Store, __MACOSX/._x.jpg) that nobody means to
    # import; reporting each of them as a bad image would only bury the real errors.
    return any(
        (part.startswith(".") and part not in (".", "..")) or part == "__MACOSX" for part in parts
    )


def _folder_file_read(path: Path) -> bytes:
    # A folder is given by whoever runs the command on the server, who can read these
    # files anyway: symbolic links are followed (dataset subsets are often made of them).
    if not path.is_file():
        raise ImportRejected("Not a regular file.")
    if path.stat().st_size > MAX_FILE_BYTES:
        raise ImportRejected(f"The file is larger than {MAX_FILE_BYTES:,} bytes.")
    with path.open("rb") as stream:
        return stream.read(MAX_FILE_BYTES + 1)


def _folder_entries(folder: Path) -> list[Entry]:
    entries = []
    for root, directories, files in os.walk(folder):
        directories.sort()
        relative = Path(root).relative_to(folder).parts
        for file_name in sorted(files):
            parts = (*relative, file_name)
            if _is_hidden(parts):
                continue
            entries.append(
                Entry("/".join(parts), relative, partial(_folder_file_read, Path(root, file_name)))
            )
    return entries


def _zip_entry_problem(info: zipfile.ZipInfo) -> str | None:
    name = info.filename.replace("\\", "/")
    if name.startswith("/") or _DRIVE_LETTER.match(name):
        return "Absolute paths are not allowed in a zip."
    if ".." in PurePosixPath(name).parts:
        return "Paths with '..' are not allowed in a zip."
    if stat.S_ISLNK(info.external_attr >> 16):
        return "Symbolic links are not allowed in a zip."
    if info.flag_bits & 0x1:
        return "Encrypted entries are not supported."
    if info.file_size > MAX_FILE_BYTES:
        return f"The file is larger than {MAX_FILE_BYTES:,} bytes."
    if info.file_size > MAX_COMPRESSION_RATIO * max(info.compress_size, 1):
        return (
            f"The entry unpacks to {info.file_size:,} bytes from {info.compress_size:,}: "
            "far too compressible for an image (a zip bomb?)."
        )
    return None


def _zip_entry_read(archive: zipfile.ZipFile, info: zipfile.ZipInfo) -> bytes:
    problem = _zip_entry_problem(info)
    if problem:
        raise ImportRejected(problem)
    try:
        with archive.open(info) as stream:
            # zipfile stops at the declared size and checks the CRC, so a header that
            # lies about the size fails here; the cap guards against the rest.
            data = stream.read(MAX_FILE_BYTES + 1)
    except (zipfile.BadZipFile, zlib.error, NotImplementedError, RuntimeError, OSError) as exc:
        raise ImportRejected(f"The entry cannot be unpacked ({exc}).") from None
    if len(data) > MAX_FILE_BYTES:
        raise ImportRejected(f"The file is larger than {MAX_FILE_BYTES:,} bytes.")
    return data


def _zip_entries(archive: zipfile.ZipFile) -> list[Entry]:
    infos = [info for info in archive.infolist() if not info.is_dir()]
    unpacked = sum(info.file_size for info in infos)
    if unpacked > MAX_UNPACKED_BYTES:
        raise ImportRejected(
            f"The zip would unpack to {unpacked:,} bytes; the limit is {MAX_UNPACKED_BYTES:,}."
        )
    entries = []
    for info in infos:
        parts = PurePosixPath(info.filename.replace("\\", "/")).parts
        if _is_hidden(parts):
            continue
        entries.append(Entry(info.filename, parts[:-1], partial(_zip_entry_read, archive, info)))
    return entries


def _central_records_count(stream: BinaryIO, end: list, stop: int) -> int:
    """The records of the central directory that ``end`` points at, counted up to ``stop``
    the way zipfile reads them, and none kept."""
    size = end[zipfile._ECD_SIZE]
    start = end[zipfile._ECD_LOCATION] - size
    if end[zipfile._ECD_SIGNATURE] == zipfile.stringEndArchive64:
        start -= zipfile.sizeEndCentDir64 + zipfile.sizeEndCentDir64Locator
    stream.seek(max(start, 0))
    count = position = 0
    while count < stop and position < size:
        record = stream.read(_CENTRAL_RECORD.size)
        if len(record) < _CENTRAL_RECORD.size:
            break  # damaged: zipfile says so when it opens the zip
        signature, *lengths = _CENTRAL_RECORD.unpack(record)
        if signature != zipfile.stringCentralDir:
            break
        count += 1
        position += _CENTRAL_RECORD.size + sum(lengths)
        stream.seek(sum(lengths), os.SEEK_CUR)
    return count


def _zip_entries_count_check(stream: BinaryIO, max_files: int) -> None:
    """Refuse a zip of too many entries before zipfile reads its central directory.

    zipfile makes an object of every entry at once: a zip of millions of empty entries
    would take gigabytes before any cap on files applies. The end record (zip64's where
    there is one) declares the count; as it may lie, the records are counted as well.
    """
    limit = ENTRIES_PER_FILE * max_files
    # zipfile's own reader of the end record: private, but it has been there since 2.6.
    end = zipfile._EndRecData(stream)
    if not end:
        return  # not a zip after all: zipfile says so next
    declared = end[zipfile._ECD_ENTRIES_TOTAL]
    if declared > limit:
        count = f"{declared:,}"
    elif _central_records_count(stream, end, stop=limit + 1) > limit:
        count = f"more than {limit:,}"
    else:
        return
    raise ImportRejected(
        f"The zip holds {count} entries: import at most {max_files:,} files at a time."
    )


@contextmanager
def _zip_entries_open(stream: BinaryIO, *, max_files: int) -> Iterator[list[Entry]]:
    try:
        _zip_entries_count_check(stream, max_files)
        archive = zipfile.ZipFile(stream)
    except (zipfile.BadZipFile, OSError) as exc:
        raise ImportRejected(f"The zip file cannot be read ({exc}).") from None
    with archive:
        yield _zip_entries(archive)


@contextmanager
def entries_open(source: Path | StoredZip, *, max_files: int) -> Iterator[list[Entry]]:
    """The files of a folder or zip on this machine, or of a stored zip; a zip of far
    more than ``max_files`` entries is refused before its directory is read."""
    if isinstance(source, StoredZip):
        try:
            stream = source.storage.open(source.name, "rb")
        except FileNotFoundError:
            raise ImportRejected("The uploaded file is gone.") from None
        with stream:
            if not zipfile.is_zipfile(stream):
                raise ImportRejected("The uploaded file is not a zip file.")
            with _zip_entries_open(stream, max_files=max_files) as entries:
                yield entries
    elif source.is_dir():
        entries = _folder_entries(source)
        yield entries
    elif source.is_file() and zipfile.is_zipfile(source):
        with source.open("rb") as stream, _zip_entries_open(stream, max_files=max_files) as entries:
            yield entries
    elif source.exists():
        raise ImportRejected(f"'{source.name}' is neither a folder nor a zip file.")
    else:
        raise ImportRejected(f"'{source.name}' does not exist.")
