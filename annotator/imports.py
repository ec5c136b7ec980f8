"""Imports: taxonomies from JSON or CSV, images from a folder or a zip.

Everything here treats its input as hostile: images are recognised by their bytes, their
size is read from the header before anything is decoded, zip entries are checked before
they are read, and one bad file is reported and skipped while the rest import.
"""

import csv
import hashlib
import io
import json
import logging
import os
import re
import stat
import uuid
import zipfile
import zlib
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from functools import partial
from pathlib import Path, PurePosixPath
from typing import Any

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.core.files.base import ContentFile
from django.core.files.uploadedfile import UploadedFile
from django.db import transaction
from django.db.models import Max
from django.utils import timezone
from PIL import Image

from annotator.models import ImportJob, Item, Project, Taxonomy, TaxonomyNode
from annotator.selectors import taxonomy_current

logger = logging.getLogger(__name__)

# Taxonomy limits: far above any real class hierarchy, low enough to keep a request cheap.
MAX_TAXONOMY_NODES = 10_000
MAX_TAXONOMY_DEPTH = 10
MAX_TAXONOMY_CSV_CHARS = 1_000_000
MAX_NAME_LENGTH = TaxonomyNode._meta.get_field("name").max_length
MAX_PATH_LENGTH = TaxonomyNode._meta.get_field("path").max_length

# Image import limits.
MAX_IMPORT_FILES = 200_000
MAX_FILE_BYTES = 64 * 1024**2
MAX_UNPACKED_BYTES = 16 * 1024**3
# JPEG, PNG and WebP are compressed already: a zip entry that deflates much better than
# 20:1 is not one of them, and at 1000:1 and more it is a zip bomb.
MAX_COMPRESSION_RATIO = 100
MAX_REPORTED_ERRORS = 1_000
BATCH_SIZE = 200
BATCH_BYTES = 64 * 1024**2

_MAGIC_FORMATS = (
    (b"\xff\xd8\xff", "JPEG"),
    (b"\x89PNG\r\n\x1a\n", "PNG"),
)
_DRIVE_LETTER = re.compile(r"^[A-Za-z]:")
TOP_LEVEL_FOLDER = "."


class ImportRejected(ValueError):
    """The input cannot be imported; the message says why, in words for the user."""


# --- Taxonomy -------------------------------------------------------------------------


def taxonomy_json_parse(text: str) -> dict[str, Any]:
    """JSON text to a dict, refusing duplicate keys (json would silently keep the last)."""

    def unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        counts = Counter(key for key, _ in pairs)
        repeated = [key for key, count in counts.items() if count > 1]
        if repeated:
            raise ImportRejected(f"The name '{repeated[0]}' appears twice under one parent.")
        return dict(pairs)

    try:
        data = json.loads(text, object_pairs_hook=unique_keys)
    except (json.JSONDecodeError, RecursionError) as exc:
        raise ImportRejected(f"The taxonomy is not valid JSON: {exc}") from None
    if not isinstance(data, dict):
        raise ImportRejected('The taxonomy JSON must be an object with a "tree".')
    return data


def _label(path: tuple[str, ...]) -> str:
    return f"'{'/'.join(path)}'" if path else "the top level"


def _json_leaf_paths(tree: Any, prefix: tuple[str, ...] = ()) -> Iterator[tuple[str, ...]]:
    """Leaf paths in file order: a dict maps names to children, a list holds leaf names."""
    if len(prefix) >= MAX_TAXONOMY_DEPTH:
        raise ImportRejected(f"The taxonomy is deeper than {MAX_TAXONOMY_DEPTH} levels.")
    if not isinstance(tree, dict | list):
        raise ImportRejected(
            f"The children under {_label(prefix)} must be an object (an inner level) "
            "or a list of leaf names (the level above the leaves)."
        )
    if not tree:
        raise ImportRejected(f"No children under {_label(prefix)}.")
    if isinstance(tree, dict):
        for name, children in tree.items():
            yield from _json_leaf_paths(children, (*prefix, name))
        return
    for name in tree:
        if not isinstance(name, str):
            raise ImportRejected(
                f"The list under {_label(prefix)} must hold leaf names only, "
                f"not {json.dumps(name)[:80]}."
            )
        yield (*prefix, name)


def _csv_leaf_paths(csv_text: str) -> list[tuple[str, ...]]:
    if len(csv_text) > MAX_TAXONOMY_CSV_CHARS:
        raise ImportRejected(f"The CSV is larger than {MAX_TAXONOMY_CSV_CHARS:,} characters.")
    paths = []
    try:
        for row_number, row in enumerate(csv.reader(io.StringIO(csv_text)), start=1):
            cells = [cell.strip() for cell in row]
            if not any(cells):
                continue
            if not paths and [cell.lower() for cell in cells] == ["path"]:
                continue
            if len([cell for cell in cells if cell]) > 1 or not cells[0]:
                raise ImportRejected(
                    f"Row {row_number}: write one path per row, such as vehicle/truck."
                )
            paths.append(tuple(cells[0].split("/")))
    except csv.Error as exc:
        raise ImportRejected(f"The CSV cannot be read: {exc}") from None
    return paths


@dataclass(frozen=True)
class _NodePlan:
    path: tuple[str, ...]
    position: int
    is_leaf: bool


def _taxonomy_plan(
    raw_leaf_paths: Iterable[tuple[str, ...]], levels: list[str] | None
) -> tuple[list[_NodePlan], list[str]]:
    """Validated nodes in tree order (parents before children) and the level names."""
    leaf_paths: list[tuple[str, ...]] = []
    seen: set[tuple[str, ...]] = set()
    for raw_path in raw_leaf_paths:
        path = tuple(name.strip() for name in raw_path)
        shown = "/".join(raw_path)
        if any(not name for name in path):
            raise ImportRejected(f"'{shown}' has an empty name.")
        if any("/" in name for name in path):
            raise ImportRejected(f"'{shown}': a name may not contain '/'.")
        if any(len(name) > MAX_NAME_LENGTH for name in path):
            raise ImportRejected(
                f"'{shown[:80]}...': a name may have at most {MAX_NAME_LENGTH} characters."
            )
        if len(path) > MAX_TAXONOMY_DEPTH:
            raise ImportRejected(f"'{shown}' is deeper than {MAX_TAXONOMY_DEPTH} levels.")
        if len("/".join(path)) > MAX_PATH_LENGTH:
            raise ImportRejected(
                f"'{shown[:80]}...': a path may have at most {MAX_PATH_LENGTH} characters."
            )
        if path in seen:
            raise ImportRejected(f"'{'/'.join(path)}' appears twice.")
        seen.add(path)
        leaf_paths.append(path)
        if len(leaf_paths) > MAX_TAXONOMY_NODES:
            raise ImportRejected(f"The taxonomy has more than {MAX_TAXONOMY_NODES:,} nodes.")
    if not leaf_paths:
        raise ImportRejected("The taxonomy has no classes.")

    inner = {path[:depth] for path in leaf_paths for depth in range(1, len(path))}
    both = [path for path in leaf_paths if path in inner]
    if both:
        raise ImportRejected(f"'{'/'.join(both[0])}' is a leaf and also has children.")
    # Level names describe depths, and per-level models need every leaf to have an
    # ancestor at each level: all leaves sit at the same depth.
    depth = len(leaf_paths[0])
    ragged = next((path for path in leaf_paths if len(path) != depth), None)
    if ragged:
        raise ImportRejected(
            f"Every leaf must be at the same depth: '{'/'.join(leaf_paths[0])}' is at depth "
            f"{depth} but '{'/'.join(ragged)}' is at depth {len(ragged)}."
        )
    if levels is None:
        levels = [f"level{number}" for number in range(1, depth + 1)]
    elif len(levels) != depth:
        raise ImportRejected(
            f"The tree is {depth} level(s) deep but {len(levels)} level name(s) are given."
        )

    plans: dict[tuple[str, ...], _NodePlan] = {}
    children = Counter[tuple[str, ...]]()
    for path in leaf_paths:
        for end in range(1, len(path) + 1):
            node = path[:end]
            if node not in plans:
                plans[node] = _NodePlan(node, children[node[:-1]], is_leaf=end == len(path))
                children[node[:-1]] += 1
    if len(plans) > MAX_TAXONOMY_NODES:
        raise ImportRejected(f"The taxonomy has more than {MAX_TAXONOMY_NODES:,} nodes.")
    return list(plans.values()), levels


def _levels_clean(levels: Any) -> list[str] | None:
    if levels is None:
        return None
    if not isinstance(levels, list) or not all(isinstance(level, str) for level in levels):
        raise ImportRejected('"levels" must be a list of level names.')
    cleaned = [level.strip() for level in levels]
    if not all(cleaned):
        raise ImportRejected("A level name is empty.")
    if any(len(level) > MAX_NAME_LENGTH for level in cleaned):
        raise ImportRejected(f"A level name may have at most {MAX_NAME_LENGTH} characters.")
    if len(set(cleaned)) != len(cleaned):
        raise ImportRejected("Two levels have the same name.")
    return cleaned


def taxonomy_create(
    *,
    project: Project,
    data: dict[str, Any] | None = None,
    csv_text: str | None = None,
    name: str = "",
    levels: Sequence[str] | None = None,
) -> Taxonomy:
    """The project's next taxonomy version, from the JSON format or CSV rows of paths.

    JSON: ``{"name": ..., "levels": [...], "tree": {...}}`` where ``tree`` maps each node
    to its children, an object at inner levels and a list just above the leaves.
    CSV: one leaf path per row (``vehicle/truck``), an optional ``path`` header row; the
    levels are named by ``levels`` or ``level1..N``.
    """
    if (data is None) == (csv_text is None):
        raise ImportRejected("Give the taxonomy either as JSON or as CSV.")
    if data is not None:
        if not isinstance(data, dict) or "tree" not in data:
            raise ImportRejected('The taxonomy JSON must be an object with a "tree".')
        plans, level_names = _taxonomy_plan(
            _json_leaf_paths(data["tree"]), _levels_clean(data.get("levels"))
        )
        name = name or str(data.get("name") or "")
    else:
        plans, level_names = _taxonomy_plan(
            _csv_leaf_paths(csv_text or ""), _levels_clean(list(levels) if levels else None)
        )

    with transaction.atomic():
        # The project row lock serialises concurrent uploads, so versions never collide.
        Project.objects.select_for_update().get(pk=project.pk)
        latest = project.taxonomies.aggregate(latest=Max("version"))["latest"] or 0
        taxonomy = Taxonomy.objects.create(
            project=project, version=latest + 1, name=name[:MAX_NAME_LENGTH], levels=level_names
        )
        created: dict[tuple[str, ...], TaxonomyNode] = {}
        for depth in range(1, len(level_names) + 1):
            level = [plan for plan in plans if len(plan.path) == depth]
            nodes = TaxonomyNode.objects.bulk_create(
                TaxonomyNode(
                    taxonomy=taxonomy,
                    parent=created.get(plan.path[:-1]),
                    name=plan.path[-1],
                    path="/".join(plan.path),
                    depth=depth,
                    position=plan.position,
                    is_leaf=plan.is_leaf,
                )
                for plan in level
            )
            created.update((plan.path, node) for plan, node in zip(level, nodes, strict=True))
    return taxonomy


# --- Images ---------------------------------------------------------------------------


def image_inspect(data: bytes) -> tuple[str, int, int]:
    """(format, width, height) of a JPEG, PNG or WebP image, recognised by its bytes.

    The size comes from the header and is checked before any pixel is decoded; then the
    image is decoded in full so that truncated or corrupt files are caught here.
    """
    if not data:
        raise ImportRejected("The file is empty.")
    image_format = next((fmt for magic, fmt in _MAGIC_FORMATS if data.startswith(magic)), None)
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        image_format = "WEBP"
    if image_format is None:
        if data.lstrip()[:1] == b"<":
            raise ImportRejected("This is text (SVG, HTML or XML), not a JPEG, PNG or WebP image.")
        raise ImportRejected(
            "Not a JPEG, PNG or WebP image (the content is checked, not the name)."
        )

    limit = settings.ARBOR_MAX_IMAGE_PIXELS
    too_large = f"The image is larger than the limit of {limit:,} pixels."
    try:
        # Reads the header only; Pillow itself refuses sizes beyond twice its own limit.
        image = Image.open(io.BytesIO(data), formats=[image_format])
    except Image.DecompressionBombError:
        raise ImportRejected(too_large) from None
    except Exception as exc:  # Pillow raises many types on malformed headers.
        raise ImportRejected(f"The image header cannot be read ({exc}).") from None
    with image:
        width, height = image.size
        if width * height > limit:
            raise ImportRejected(f"{too_large[:-1]}: it is {width}x{height}.")
        try:
            # Decodes every pixel; with ImageFile.LOAD_TRUNCATED_IMAGES left at its
            # default (False), missing data raises instead of being filled in.
            image.load()
        except Exception as exc:  # Pillow's decoders raise many types on corrupt data.
            raise ImportRejected(f"The image is truncated or corrupt ({exc}).") from None
    return image_format, width, height


@dataclass(frozen=True)
class _Entry:
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


def _folder_entries(folder: Path) -> list[_Entry]:
    entries = []
    for root, directories, files in os.walk(folder):
        directories.sort()
        relative = Path(root).relative_to(folder).parts
        for file_name in sorted(files):
            parts = (*relative, file_name)
            if _is_hidden(parts):
                continue
            entries.append(
                _Entry("/".join(parts), relative, partial(_folder_file_read, Path(root, file_name)))
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


def _zip_entries(archive: zipfile.ZipFile) -> list[_Entry]:
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
        entries.append(_Entry(info.filename, parts[:-1], partial(_zip_entry_read, archive, info)))
    return entries


@contextmanager
def _entries_open(source: Path) -> Iterator[list[_Entry]]:
    if source.is_dir():
        entries = _folder_entries(source)
        yield entries
    elif source.is_file() and zipfile.is_zipfile(source):
        try:
            archive = zipfile.ZipFile(source)
        except (zipfile.BadZipFile, OSError) as exc:
            raise ImportRejected(f"The zip file cannot be read ({exc}).") from None
        with archive:
            yield _zip_entries(archive)
    elif source.exists():
        raise ImportRejected(f"'{source.name}' is neither a folder nor a zip file.")
    else:
        raise ImportRejected(f"'{source.name}' does not exist.")


class _LeafMatcher:
    """The ground-truth leaf for a file's folders: the folders ending in a leaf's full
    path (``animal/cat``), or else the parent folder named like exactly one leaf."""

    def __init__(self, taxonomy: Taxonomy | None) -> None:
        leaves = list(taxonomy.nodes.filter(is_leaf=True)) if taxonomy else []
        self._by_path = {leaf.path: leaf for leaf in leaves}
        name_counts = Counter(leaf.name for leaf in leaves)
        self._by_name = {leaf.name: leaf for leaf in leaves if name_counts[leaf.name] == 1}
        self._depths = sorted({leaf.depth for leaf in leaves}, reverse=True)

    def leaf_for(self, folders: tuple[str, ...]) -> TaxonomyNode | None:
        for depth in self._depths:
            if len(folders) >= depth and (leaf := self._by_path.get("/".join(folders[-depth:]))):
                return leaf
        return self._by_name.get(folders[-1]) if folders else None


@dataclass(frozen=True)
class _Accepted:
    name: str
    data: bytes
    content_hash: str
    format: str
    width: int
    height: int
    ground_truth: TaxonomyNode | None


def _hashes_present(*, project: Project, hashes: list[str]) -> set[str]:
    return set(
        Item.objects.filter(project=project, content_hash__in=hashes).values_list(
            "content_hash", flat=True
        )
    )


class _ImportRun:
    """The state of one import: files accepted but not yet stored, and the report."""

    def __init__(
        self,
        *,
        job: ImportJob,
        with_labels: bool,
        progress: Callable[[int, int], None] | None,
    ) -> None:
        self.job = job
        self.project = job.project
        self.progress = progress
        self.matcher = _LeafMatcher(taxonomy_current(project=self.project)) if with_labels else None
        self.seen_hashes: set[str] = set()
        self.pending: list[_Accepted] = []
        self.pending_bytes = 0
        self.unmatched_folders = Counter[str]()
        self.unreported_errors = 0

    def add(self, entry: _Entry) -> None:
        self.job.processed += 1
        try:
            data = entry.read()
            image_format, width, height = image_inspect(data)
        except ImportRejected as exc:
            self.error(entry.name, str(exc))
            return
        content_hash = hashlib.sha256(data).hexdigest()
        if content_hash in self.seen_hashes:
            self.job.duplicates += 1
            return
        self.seen_hashes.add(content_hash)
        ground_truth = None
        if self.matcher:
            ground_truth = self.matcher.leaf_for(entry.folders)
            if ground_truth is None:
                self.unmatched_folders["/".join(entry.folders) or TOP_LEVEL_FOLDER] += 1
        self.pending.append(
            _Accepted(entry.name, data, content_hash, image_format, width, height, ground_truth)
        )
        self.pending_bytes += len(data)

    def error(self, name: str, message: str) -> None:
        if len(self.job.errors) < MAX_REPORTED_ERRORS:
            self.job.errors.append({"file": name, "error": message})
        else:
            self.unreported_errors += 1

    def _item_store(self, accepted: _Accepted) -> Item:
        item = Item(
            project=self.project,
            original_name=accepted.name[-500:],
            content_hash=accepted.content_hash,
            format=accepted.format,
            width=accepted.width,
            height=accepted.height,
            ground_truth=accepted.ground_truth,
        )
        # Files first, rows second: a crash in between leaves an unused file, never a
        # row without its image. The field's upload_to generates the stored name.
        item.image.save(accepted.name, ContentFile(accepted.data), save=False)
        return item

    def flush(self) -> None:
        """Store the pending images and publish the progress."""
        if self.pending:
            hashes = [accepted.content_hash for accepted in self.pending]
            present = _hashes_present(project=self.project, hashes=hashes)
            items = [
                self._item_store(accepted)
                for accepted in self.pending
                if accepted.content_hash not in present
            ]
            self.job.duplicates += len(self.pending) - len(items)
            # A concurrent import may have stored the same image since the check above:
            # the unique constraint keeps one row, and the loser's file is removed.
            Item.objects.bulk_create(items, ignore_conflicts=True)
            stored_names = set(
                Item.objects.filter(project=self.project, content_hash__in=hashes).values_list(
                    "image", flat=True
                )
            )
            for item in items:
                if item.image.name in stored_names:
                    self.job.imported += 1
                else:
                    item.image.delete(save=False)
                    self.job.duplicates += 1
            self.pending.clear()
            self.pending_bytes = 0
        self.job.unmatched_folders = [
            {"folder": folder, "files": files}
            for folder, files in sorted(self.unmatched_folders.items())
        ]
        self.job.save(
            update_fields=["processed", "imported", "duplicates", "errors", "unmatched_folders"]
        )
        if self.progress:
            self.progress(self.job.processed, self.job.total)

    def finish(self) -> None:
        if self.unreported_errors:
            self.job.errors.append(
                {"file": "", "error": f"{self.unreported_errors:,} more files were skipped."}
            )
        self.flush()


def _job_finish(job: ImportJob, *, state: str, error: str = "") -> None:
    job.state = state
    job.error = error
    job.finished_at = timezone.now()
    job.save(update_fields=["state", "error", "finished_at"])


def images_import(
    *,
    project: Project,
    source: Path,
    with_labels: bool = False,
    job: ImportJob | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> ImportJob:
    """Import the JPEG, PNG and WebP images of a folder (ImageFolder layout) or a zip.

    Bad files are reported in ``job.errors`` and skipped; an image already in the project
    (same SHA-256) counts as a duplicate. With labels, a folder named like a leaf of the
    current taxonomy (or mirroring its path) gives its files that leaf as ground truth;
    the other folders are listed in ``job.unmatched_folders``. The job records the
    progress as it goes and ends succeeded, or failed with ``ImportRejected`` raised.
    """
    if job is None:
        job = ImportJob.objects.create(
            project=project,
            source=str(source),
            with_labels=with_labels,
            state=ImportJob.State.RUNNING,
        )
    try:
        with _entries_open(source) as entries:
            if len(entries) > MAX_IMPORT_FILES:
                raise ImportRejected(
                    f"{len(entries):,} files: import at most {MAX_IMPORT_FILES:,} at a time."
                )
            job.total = len(entries)
            job.save(update_fields=["total"])
            run = _ImportRun(job=job, with_labels=with_labels, progress=progress)
            for number, entry in enumerate(entries, start=1):
                run.add(entry)
                if number % BATCH_SIZE == 0 or run.pending_bytes >= BATCH_BYTES:
                    run.flush()
            run.finish()
    except ImportRejected as exc:
        _job_finish(job, state=ImportJob.State.FAILED, error=str(exc))
        raise
    except Exception as exc:
        # The details (paths, SQL) go to the log with the traceback, not to the user.
        error = f"The import stopped on an unexpected {type(exc).__name__}; see the log."
        _job_finish(job, state=ImportJob.State.FAILED, error=error)
        raise
    _job_finish(job, state=ImportJob.State.SUCCEEDED)
    return job


# --- Uploads run by the worker --------------------------------------------------------


def _uploads_folder() -> Path:
    return Path(settings.MEDIA_ROOT) / "imports"


def _upload_delete(path: Path) -> None:
    # Only stored uploads are ours to delete, never a folder given to the command.
    if path.parent == _uploads_folder():
        path.unlink(missing_ok=True)


def _job_enqueue(job_id: int) -> None:
    from annotator.tasks import import_run  # the tasks module imports this one

    try:
        import_run.delay(job_id)
    except Exception:
        # The broker is unreachable: fail the job now rather than leave it queued forever.
        logger.exception("Import job %s could not be queued", job_id)
        job = ImportJob.objects.get(pk=job_id)
        _job_finish(job, state=ImportJob.State.FAILED, error="The import could not be queued.")
        _upload_delete(Path(job.source))


def import_job_start(
    *, project: Project, user: AbstractBaseUser, upload: UploadedFile, with_labels: bool
) -> ImportJob:
    """Store an uploaded zip of images and queue its import for the worker."""
    limit = settings.ARBOR_MAX_UPLOAD_BYTES
    if upload.size is None or upload.size > limit:
        raise ImportRejected(f"The upload is larger than the limit of {limit:,} bytes.")
    if not zipfile.is_zipfile(upload):
        raise ImportRejected("Upload a .zip file of images (its content is checked, not its name).")
    upload.seek(0)
    folder = _uploads_folder()
    folder.mkdir(parents=True, exist_ok=True)
    stored = folder / f"{uuid.uuid4().hex}.zip"
    with stored.open("wb") as destination:
        for chunk in upload.chunks():
            destination.write(chunk)
    return import_job_enqueue(project=project, user=user, source=stored, with_labels=with_labels)


def import_job_enqueue(
    *, project: Project, user: AbstractBaseUser | None, source: Path, with_labels: bool
) -> ImportJob:
    """Queue the import of a folder or zip on the server; the worker runs it after commit."""
    job = ImportJob.objects.create(
        project=project, created_by=user, source=str(source), with_labels=with_labels
    )
    transaction.on_commit(partial(_job_enqueue, job.pk))
    return job


def import_job_run(*, job_id: int) -> None:
    """Run a queued import once: a redelivered task finds the job claimed and returns."""
    claimed = ImportJob.objects.filter(id=job_id, state=ImportJob.State.QUEUED).update(
        state=ImportJob.State.RUNNING
    )
    if not claimed:
        return
    job = ImportJob.objects.select_related("project").get(pk=job_id)
    source = Path(job.source)
    try:
        images_import(project=job.project, source=source, with_labels=job.with_labels, job=job)
    except ImportRejected:
        pass  # recorded in the job for the user to read
    finally:
        _upload_delete(source)
