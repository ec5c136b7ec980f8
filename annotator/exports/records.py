"""Reading the records to export: one per labeled item, chunk by chunk."""

import datetime as dt
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import PurePosixPath
from typing import Any, NamedTuple

from django.db.models import Exists, OuterRef, Subquery

from annotator.consensus import HUMAN_SOURCES, Label, Vote, final_label
from annotator.exports.options import ExportSpec
from annotator.models import Annotation, Item, Prediction

# Items per chunk: one round of queries and one progress update each.
CHUNK_SIZE = 2000


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


def stored_file_name(item: ItemRow) -> str:
    """A unique name for the image in exports: its hash, with the stored extension."""
    return f"{item.content_hash}{PurePosixPath(item.image).suffix}"


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
