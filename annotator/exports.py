"""Exports: a project's labeled items as CSV, JSON, COCO or an ImageFolder zip.

Every format is written by streaming: items are read in keyset-paginated chunks with a
fixed number of queries per chunk (items, their annotations, their latest predictions),
each record is written as soon as it is built, and nothing holds the whole project.
The file is written under a temporary name and moved into place when complete.

What is exported (the same for every format):
- Labels as of the moment the export was requested: annotations made later are left
  out, and predictions come from the newest model version at that moment or older.
- One record per item with a final label (``annotator.consensus``). Unlabeled items are
  not exported, in any format.
- Filters: ``include_auto`` adds items labeled only by an auto-accepted prediction
  (source ``auto``); ``human_only`` also drops auto-accepted annotations from the
  records (the two exclude each other); ``min_agreement`` leaves out human labels whose
  agreement at their own level is lower.
- COCO categories are all taxonomy nodes, so coarse-only labels keep their inner node.
  ImageFolder zips are nested by path (coarse-only labels sit in their inner node's
  folder) or flat by leaf (coarse-only labels are left out and counted).
"""

import csv
import datetime as dt
import json
import logging
import os
import shutil
import tempfile
import uuid
import zipfile
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator, Mapping
from dataclasses import asdict, dataclass, field
from functools import partial
from pathlib import Path, PurePosixPath
from typing import Any, NamedTuple

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.core.serializers.json import DjangoJSONEncoder
from django.db import transaction
from django.db.models import Exists, OuterRef, Q, Subquery
from django.utils import timezone

from annotator.consensus import HUMAN_SOURCES, Label, Vote, final_label, path_at_level
from annotator.models import Annotation, Export, Item, Project, Taxonomy
from annotator.selectors import taxonomy_current, taxonomy_nodes
from annotator.services import InvalidInput
from learning.models import ModelVersion, Prediction

logger = logging.getLogger(__name__)

# Items per chunk: one round of queries and one progress update each.
CHUNK_SIZE = 2000
# A running export whose progress has not moved for this long lost its worker.
STALE_AFTER = dt.timedelta(minutes=10)
# The version the API advertises is the application's version.
ARBOR_VERSION = settings.SPECTACULAR_SETTINGS["VERSION"]

LAYOUTS = ("nested", "flat")
FILE_EXTENSIONS = {
    Export.Format.CSV: "csv",
    Export.Format.JSON: "json",
    Export.Format.COCO: "coco.json",
    Export.Format.IMAGEFOLDER: "zip",
}
CONTENT_TYPES = {
    Export.Format.CSV: "text/csv",
    Export.Format.JSON: "application/json",
    Export.Format.COCO: "application/json",
    Export.Format.IMAGEFOLDER: "application/zip",
}


# --- What to export -------------------------------------------------------------------


@dataclass(frozen=True)
class ExportOptions:
    human_only: bool = False
    include_auto: bool = False
    min_agreement: float | None = None
    layout: str | None = None  # ImageFolder only: nested (the default) or flat


def export_options_clean(*, format: str, options: Mapping[str, Any] | None) -> ExportOptions:
    """Validated options for ``format``; raises InvalidInput with a message for the user."""
    if format not in Export.Format.values:
        raise InvalidInput(
            f"Unknown format {format!r}; use one of {', '.join(Export.Format.values)}."
        )
    options = {} if options is None else options
    if not isinstance(options, Mapping):
        raise InvalidInput("options must be an object.")
    known = ExportOptions.__dataclass_fields__.keys()
    unknown = sorted(set(options) - known)
    if unknown:
        raise InvalidInput(f"Unknown option(s) {', '.join(unknown)}; use {', '.join(known)}.")
    for name in ("human_only", "include_auto"):
        if not isinstance(options.get(name, False), bool):
            raise InvalidInput(f"{name} must be true or false.")
    if options.get("human_only") and options.get("include_auto"):
        raise InvalidInput("human_only and include_auto exclude each other: choose one.")
    min_agreement = options.get("min_agreement")
    if min_agreement is not None and (
        isinstance(min_agreement, bool)
        or not isinstance(min_agreement, int | float)
        or not 0 <= min_agreement <= 1
    ):
        raise InvalidInput("min_agreement must be a number from 0 to 1.")
    layout = options.get("layout")
    if format == Export.Format.IMAGEFOLDER:
        layout = layout or "nested"
        if layout not in LAYOUTS:
            raise InvalidInput(f"layout must be one of {', '.join(LAYOUTS)}.")
    elif layout is not None:
        raise InvalidInput("layout applies to imagefolder exports only.")
    return ExportOptions(
        human_only=options.get("human_only", False),
        include_auto=options.get("include_auto", False),
        min_agreement=None if min_agreement is None else float(min_agreement),
        layout=layout,
    )


@dataclass(frozen=True)
class ExportSpec:
    """Everything a writer needs: the project, the versions and the options."""

    project: Project
    format: str
    options: ExportOptions
    taxonomy: Taxonomy
    model_version: ModelVersion | None
    as_of: dt.datetime
    export_id: int | None = None


def _model_version_latest(*, project: Project) -> ModelVersion | None:
    return ModelVersion.objects.filter(project=project).order_by("-version").first()


def export_spec_build(*, project: Project, format: str, options: ExportOptions) -> ExportSpec:
    """A spec for an export of the project as it is now (the command line's way in)."""
    taxonomy = taxonomy_current(project=project)
    if taxonomy is None:
        raise InvalidInput("This project has no taxonomy, so nothing to export.")
    return ExportSpec(
        project=project,
        format=format,
        options=options,
        taxonomy=taxonomy,
        model_version=_model_version_latest(project=project),
        as_of=timezone.now(),
    )


def _spec_for(export: Export) -> ExportSpec:
    return ExportSpec(
        project=export.project,
        format=export.format,
        options=ExportOptions(**export.options),
        taxonomy=export.taxonomy,
        model_version=export.model_version,
        as_of=export.created_at,
        export_id=export.pk,
    )


def _provenance(spec: ExportSpec) -> dict[str, Any]:
    """Where the data came from; written into every export file."""
    model_version = spec.model_version
    return {
        "arbor_version": ARBOR_VERSION,
        "export_id": spec.export_id,
        "format": spec.format,
        "project": {"id": spec.project.pk, "name": spec.project.name},
        "taxonomy": {
            "id": spec.taxonomy.pk,
            "version": spec.taxonomy.version,
            "name": spec.taxonomy.name,
            "levels": spec.taxonomy.levels,
        },
        "model_version": (
            {"id": model_version.pk, "version": model_version.version} if model_version else None
        ),
        "as_of": spec.as_of.isoformat(),
        "created_at": timezone.now().isoformat(),
        "filters": asdict(spec.options),
        "label_rule": "majority of human answers, top-down by level, ties to the most recent; "
        "auto-accepted labels only where no human answered",
    }


# --- Reading the records --------------------------------------------------------------


class ItemRow(NamedTuple):
    id: int
    original_name: str
    content_hash: str
    width: int
    height: int
    created_at: dt.datetime
    image: str


class AnnotationRow(NamedTuple):
    item_id: int
    path: str
    source: str
    created_at: dt.datetime
    annotator: str | None
    duration_ms: int | None


class PredictionRow(NamedTuple):
    item_id: int
    model_version: int
    path: str
    confidence: float
    levels: list[dict[str, Any]]


@dataclass(frozen=True)
class ExportRecord:
    item: ItemRow
    label: Label
    annotations: list[AnnotationRow]
    prediction: PredictionRow | None

    @property
    def human_annotations(self) -> list[AnnotationRow]:
        return [row for row in self.annotations if row.source in HUMAN_SOURCES]

    @property
    def annotators(self) -> list[str]:
        """Usernames of the human annotators, in the order they answered."""
        names = (row.annotator for row in self.human_annotations if row.annotator)
        return list(dict.fromkeys(names))


@dataclass
class ExportCounts:
    total: int = 0
    processed: int = 0
    exported: int = 0
    left_out: Counter[str] = field(default_factory=Counter)


ProgressCallback = Callable[[ExportCounts], None]


def _annotations_by_item(spec: ExportSpec, item_ids: list[int]) -> dict[int, list[AnnotationRow]]:
    annotations = Annotation.objects.filter(item_id__in=item_ids, created_at__lte=spec.as_of)
    by_item: dict[int, list[AnnotationRow]] = defaultdict(list)
    for row in annotations.order_by("item_id", "created_at", "id").values_list(
        "item_id", "node__path", "source", "created_at", "annotator__username", "duration_ms"
    ):
        by_item[row[0]].append(AnnotationRow(*row))
    return by_item


def _predictions_by_item(spec: ExportSpec, item_ids: list[int]) -> dict[int, PredictionRow]:
    """Each item's prediction from the newest model version the export may use."""
    if spec.model_version is None:
        return {}
    usable = Prediction.objects.filter(
        model_version__project=spec.project,
        model_version__version__lte=spec.model_version.version,
    )
    newest = usable.filter(item_id=OuterRef("item_id")).order_by("-model_version__version")
    latest = usable.filter(item_id__in=item_ids, pk=Subquery(newest.values("pk")[:1]))
    # order_by(): the model's default ordering would only add a sort.
    rows = latest.order_by().values_list(
        "item_id", "model_version__version", "predicted_node__path", "confidence", "path"
    )
    return {row[0]: PredictionRow(*row) for row in rows}


def _kept(spec: ExportSpec, label: Label, counts: ExportCounts) -> bool:
    """Whether the filters keep this label; counts the reason when they do not."""
    if label.source not in HUMAN_SOURCES and not spec.options.include_auto:
        counts.left_out["auto_label"] += 1
        return False
    minimum, agreement = spec.options.min_agreement, label.final_agreement
    # Auto labels have no agreement to measure: include_auto alone decides about them.
    if minimum is not None and agreement is not None and agreement < minimum:
        counts.left_out["below_min_agreement"] += 1
        return False
    return True


def export_records(
    spec: ExportSpec, counts: ExportCounts, progress: ProgressCallback | None = None
) -> Iterator[ExportRecord]:
    """The records to export, read chunk by chunk; ``counts`` follows along."""
    annotated = Annotation.objects.filter(item=OuterRef("pk"), created_at__lte=spec.as_of)
    items = Item.objects.filter(project=spec.project)
    counts.total = items.filter(Exists(annotated)).count()
    if progress:
        progress(counts)
    last_id = 0
    while True:
        # Keyset pagination: each chunk is an index range scan, however deep we are. The
        # items without annotations are skipped below rather than filtered here, where
        # the semi-join could make every chunk scan the project's annotations.
        chunk = [
            ItemRow(*row)
            for row in items.filter(pk__gt=last_id)
            .order_by("pk")
            .values_list(*ItemRow._fields)[:CHUNK_SIZE]
        ]
        if not chunk:
            break
        last_id = chunk[-1].id
        item_ids = [item.id for item in chunk]
        annotations = _annotations_by_item(spec, item_ids)
        predictions = _predictions_by_item(spec, item_ids)
        for item in chunk:
            rows = annotations.get(item.id)
            if rows is None:
                continue  # unlabeled: never exported, and not counted in the total
            counts.processed += 1
            if spec.options.human_only:
                rows = [row for row in rows if row.source in HUMAN_SOURCES]
            label = final_label(Vote(row.path, row.source, row.created_at) for row in rows)
            if label is None:
                # Only auto-accepted answers, and human_only drops them.
                counts.left_out["auto_label"] += 1
                continue
            if _kept(spec, label, counts):
                yield ExportRecord(item, label, rows, predictions.get(item.id))
        if progress:
            progress(counts)


# --- Writers --------------------------------------------------------------------------


def _json(value: Any) -> str:
    return json.dumps(value, cls=DjangoJSONEncoder, ensure_ascii=False)


def _iso(moment: dt.datetime | None) -> str:
    return moment.isoformat() if moment else ""


def _level_columns(levels: list[str], taken: set[str]) -> list[str]:
    # A level named like a fixed column ("label") must not shadow it.
    return [f"level_{level}" if level in taken else level for level in levels]


CSV_COLUMNS_BEFORE_LEVELS = ["file", "image_hash", "item_id"]
CSV_COLUMNS_AFTER_LEVELS = [
    "label",
    "source",
    "annotators",
    "human_annotations",
    "agreement",
    "model_version",
    "confidence",
    "taxonomy_version",
    "created_at",
    "labeled_at",
]


def _csv_write(
    spec: ExportSpec, records: Iterator[ExportRecord], out: Path, counts: ExportCounts
) -> None:
    levels = spec.taxonomy.levels
    fixed = set(CSV_COLUMNS_BEFORE_LEVELS + CSV_COLUMNS_AFTER_LEVELS)
    with out.open("w", newline="", encoding="utf-8") as stream:
        writer = csv.writer(stream)
        writer.writerow(
            [*CSV_COLUMNS_BEFORE_LEVELS, *_level_columns(levels, fixed), *CSV_COLUMNS_AFTER_LEVELS]
        )
        for record in records:
            label, prediction = record.label, record.prediction
            agreement = label.final_agreement
            writer.writerow(
                [
                    record.item.original_name,
                    record.item.content_hash,
                    record.item.id,
                    *(
                        path_at_level(label.path, depth) or ""
                        for depth in range(1, len(levels) + 1)
                    ),
                    label.path,
                    label.source,
                    ";".join(record.annotators),
                    len(record.human_annotations),
                    "" if agreement is None else round(agreement, 4),
                    prediction.model_version if prediction else "",
                    round(prediction.confidence, 4) if prediction else "",
                    spec.taxonomy.version,
                    _iso(record.item.created_at),
                    _iso(label.labeled_at),
                ]
            )
            counts.exported += 1


def _prediction_json(prediction: PredictionRow | None) -> dict[str, Any] | None:
    if prediction is None:
        return None
    return {
        "model_version": prediction.model_version,
        "path": prediction.path,
        "confidence": prediction.confidence,
        "levels": prediction.levels,
    }


def _record_json(record: ExportRecord) -> dict[str, Any]:
    item, label = record.item, record.label
    return {
        "id": item.id,
        "file": item.original_name,
        "image_hash": item.content_hash,
        "width": item.width,
        "height": item.height,
        "created_at": item.created_at,
        "label": {
            "path": label.path,
            "source": label.source,
            "agreement": list(label.agreement),
            "labeled_at": label.labeled_at,
        },
        "annotations": [
            {
                "annotator": row.annotator,
                "path": row.path,
                "source": row.source,
                "created_at": row.created_at,
                "duration_ms": row.duration_ms,
            }
            for row in record.annotations
        ],
        "prediction": _prediction_json(record.prediction),
    }


def _counts_json(counts: ExportCounts) -> dict[str, Any]:
    return {"exported": counts.exported, "left_out": dict(counts.left_out)}


def _json_write(
    spec: ExportSpec, records: Iterator[ExportRecord], out: Path, counts: ExportCounts
) -> None:
    provenance = _provenance(spec)
    taxonomy = {
        **provenance["taxonomy"],
        "nodes": [
            {
                "id": node.pk,
                "path": node.path,
                "name": node.name,
                "depth": node.depth,
                "parent": node.parent_id,
                "is_leaf": node.is_leaf,
            }
            for node in taxonomy_nodes(taxonomy=spec.taxonomy)
        ],
    }
    with out.open("w", encoding="utf-8") as stream:
        stream.write(f'{{"export": {_json(provenance)},\n')
        stream.write(f'"taxonomy": {_json(taxonomy)},\n"items": [')
        for record in records:
            stream.write(("\n" if not counts.exported else ",\n") + _json(_record_json(record)))
            counts.exported += 1
        stream.write(f'\n],\n"counts": {_json(_counts_json(counts))}}}\n')


def _coco_write(
    spec: ExportSpec, records: Iterator[ExportRecord], out: Path, counts: ExportCounts
) -> None:
    nodes = list(taxonomy_nodes(taxonomy=spec.taxonomy).select_related("parent"))
    category_of = {node.path: node.pk for node in nodes}
    categories = [
        {
            "id": node.pk,
            "name": node.name,
            # As in COCO itself ("person" in "person"), a top node is its own supercategory.
            "supercategory": node.parent.name if node.parent else node.name,
            "path": node.path,
            "level": spec.taxonomy.levels[node.depth - 1],
            "is_leaf": node.is_leaf,
        }
        for node in nodes
    ]
    provenance = _provenance(spec)
    info = {
        "description": f"Arbor export of project {spec.project.name}",
        "version": ARBOR_VERSION,
        "year": spec.as_of.year,
        "date_created": spec.as_of.isoformat(),
        "contributor": "Arbor",
        "url": "",
        **provenance,
    }
    with (
        out.open("w", encoding="utf-8") as stream,
        # Images and annotations are two arrays filled from one pass over the items: the
        # annotations wait in a second file, not in memory.
        tempfile.TemporaryFile("w+", encoding="utf-8", dir=out.parent) as annotations,
    ):
        stream.write(f'{{"info": {_json(info)},\n"licenses": [],\n')
        stream.write(f'"categories": {_json(categories)},\n"images": [')
        for record in records:
            category = category_of.get(record.label.path)
            if category is None:
                counts.left_out["not_in_taxonomy"] += 1
                continue
            item = record.item
            separator = "\n" if not counts.exported else ",\n"
            image = {
                "id": item.id,
                "file_name": _stored_file_name(item),
                "width": item.width,
                "height": item.height,
                "original_name": item.original_name,
            }
            stream.write(separator + _json(image))
            counts.exported += 1
            annotation = {
                "id": counts.exported,
                "image_id": item.id,
                "category_id": category,
                # Image-level labels: the box is the whole image, so tools that expect
                # boxes and areas still load the file.
                "iscrowd": 0,
                "area": item.width * item.height,
                "bbox": [0, 0, item.width, item.height],
                "source": record.label.source,
                "agreement": record.label.final_agreement,
            }
            annotations.write(separator + _json(annotation))
        stream.write('\n],\n"annotations": [')
        annotations.seek(0)
        shutil.copyfileobj(annotations, stream)
        stream.write("\n]}\n")


def _stored_file_name(item: ItemRow) -> str:
    """A unique name for the image in exports: its hash, with the stored extension."""
    return f"{item.content_hash}{PurePosixPath(item.image).suffix}"


def _folder_name(name: str) -> str:
    # Node names may be anything but "/": never let one climb out of its folder.
    name = name.replace("\\", "_").replace("\0", "_")
    return f"_{name}" if name in (".", "..") else name


def _imagefolder_write(
    spec: ExportSpec, records: Iterator[ExportRecord], out: Path, counts: ExportCounts
) -> None:
    depth = len(spec.taxonomy.levels)
    flat = spec.options.layout == "flat"
    # Two leaves with one name (vehicle/other, animal/other) must not share a flat folder.
    leaf_names = Counter(
        spec.taxonomy.nodes.filter(is_leaf=True).values_list("name", flat=True).iterator()
    )
    storage = Item._meta.get_field("image").storage
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_STORED) as archive:
        for record in records:
            names = record.label.path.split("/")
            if flat and len(names) < depth:
                counts.left_out["coarse_only"] += 1
                continue
            if flat:
                folders = [names[-1] if leaf_names[names[-1]] <= 1 else "__".join(names)]
            else:
                folders = names
            arcname = "/".join([*map(_folder_name, folders), _stored_file_name(record.item)])
            try:
                image = storage.open(record.item.image, "rb")
            except OSError:
                logger.warning(
                    "Export %s: image of item %s is missing", spec.export_id, record.item.id
                )
                counts.left_out["image_missing"] += 1
                continue
            entry = zipfile.ZipInfo(arcname)
            entry.external_attr = 0o644 << 16
            with image, archive.open(entry, "w") as destination:
                shutil.copyfileobj(image, destination, length=1024**2)
            counts.exported += 1
        # Written last, when the counts are known; ImageFolder readers skip top-level files.
        provenance = {**_provenance(spec), "layout": spec.options.layout, **_counts_json(counts)}
        archive.writestr("PROVENANCE.json", json.dumps(provenance, indent=2, ensure_ascii=False))


WRITERS = {
    Export.Format.CSV: _csv_write,
    Export.Format.JSON: _json_write,
    Export.Format.COCO: _coco_write,
    Export.Format.IMAGEFOLDER: _imagefolder_write,
}


def export_write(
    *, spec: ExportSpec, destination: Path, progress: ProgressCallback | None = None
) -> ExportCounts:
    """Write the export to ``destination``, which appears only once it is complete."""
    destination.parent.mkdir(parents=True, exist_ok=True)
    descriptor, partial_name = tempfile.mkstemp(
        dir=destination.parent, prefix=".export-", suffix=".part"
    )
    os.close(descriptor)
    partial_path = Path(partial_name)
    counts = ExportCounts()
    try:
        WRITERS[spec.format](spec, export_records(spec, counts, progress), partial_path, counts)
        os.replace(partial_path, destination)
    finally:
        partial_path.unlink(missing_ok=True)
    return counts


# --- Running exports in the worker ----------------------------------------------------


def export_start(
    *, project: Project, user: AbstractBaseUser, format: str, options: Mapping[str, Any] | None
) -> Export:
    """Record an export of the project as it is now and queue it for the worker."""
    cleaned = export_options_clean(format=format, options=options)
    spec = export_spec_build(project=project, format=format, options=cleaned)
    export = Export.objects.create(
        project=project,
        created_by=user,
        format=format,
        options=asdict(cleaned),
        taxonomy=spec.taxonomy,
        model_version=spec.model_version,
    )
    transaction.on_commit(partial(_export_enqueue, export.pk))
    return export


def _export_finish(export_id: int, **fields: Any) -> None:
    Export.objects.filter(pk=export_id).update(finished_at=timezone.now(), **fields)


def _export_enqueue(export_id: int) -> None:
    from annotator.tasks import export_run as export_run_task  # tasks import this module

    try:
        # Exports are ordinary work: named explicitly so that routing the training
        # tasks elsewhere never takes exports with them.
        export_run_task.apply_async((export_id,), queue=settings.CELERY_TASK_DEFAULT_QUEUE)
    except Exception:
        # The broker is unreachable: fail now rather than leave the export queued forever.
        logger.exception("Export %s could not be queued", export_id)
        _export_finish(
            export_id, state=Export.State.FAILED, error="The export could not be queued."
        )


def _progress_save(export_id: int, counts: ExportCounts) -> None:
    Export.objects.filter(pk=export_id).update(
        total=counts.total, processed=counts.processed, heartbeat_at=timezone.now()
    )


def export_run(*, export_id: int) -> bool:
    """Run a queued export once. False when another worker is running it right now.

    The claim is a compare-and-swap, so a redelivered task does not run it twice; a
    running export whose progress stopped moving (its worker died) is taken over.
    """
    now = timezone.now()
    claimable = Q(state=Export.State.QUEUED) | Q(
        state=Export.State.RUNNING, heartbeat_at__lt=now - STALE_AFTER
    )
    claimed = Export.objects.filter(claimable, pk=export_id).update(
        state=Export.State.RUNNING, heartbeat_at=now, processed=0
    )
    if not claimed:
        return not Export.objects.filter(pk=export_id, state=Export.State.RUNNING).exists()
    export = Export.objects.select_related("project", "taxonomy", "model_version").get(pk=export_id)
    name = export.file.field.generate_filename(
        export, f"{uuid.uuid4().hex}.{FILE_EXTENSIONS[export.format]}"
    )
    destination = Path(settings.MEDIA_ROOT) / name
    try:
        counts = export_write(
            spec=_spec_for(export),
            destination=destination,
            progress=partial(_progress_save, export_id),
        )
    except Exception as exc:
        # The details (paths, SQL) go to the log with the traceback, not to the user.
        logger.exception("Export %s failed", export_id)
        _export_finish(
            export_id,
            state=Export.State.FAILED,
            error=f"The export stopped on an unexpected {type(exc).__name__}; see the log.",
        )
        return True
    _export_finish(
        export_id,
        state=Export.State.SUCCEEDED,
        file=name,
        size=destination.stat().st_size,
        total=counts.total,
        processed=counts.processed,
        exported=counts.exported,
        left_out=dict(counts.left_out),
    )
    return True


def export_download_name(export: Export) -> str:
    return f"arbor-project-{export.project_id}-export-{export.pk}.{FILE_EXTENSIONS[export.format]}"
