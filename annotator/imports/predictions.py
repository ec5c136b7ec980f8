"""Predictions of an outside model, imported as a model version of their own.

The file is a CSV with a header (``file``, ``node``, ``confidence``; ``path`` or
``node_path`` name the node too) or JSON: a list of such objects, or
``{"predictions": [...]}``. A file is an item's name as imported (``cat/1.jpg``), or its
base name where that names one item. The node is a path of the current taxonomy. The
predictions become the newest model version, marked external, so the queue shows them
to annotators like Arbor's own until the next retrain. Bad rows are reported and
skipped; a file that cannot be read at all is refused.
"""

import csv
import io
import json
import math
from collections import Counter
from dataclasses import dataclass

from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.utils import timezone

from annotator.exceptions import ImportRejected
from annotator.imports.models import ImportJob
from annotator.models import Item, ModelVersion, Prediction, Project, Taxonomy, TaxonomyNode
from annotator.selectors import model_version_latest, taxonomy_current

MAX_PREDICTIONS_BYTES = 64 * 1024**2
MAX_PREDICTION_ROWS = 200_000
MAX_REPORTED_ERRORS = 1_000
NODE_COLUMNS = ("node", "node_path", "path")
# As sure as a retrain must be for the page to ask to confirm rather than to choose.
VERIFY_CONFIDENCE = 0.9


def _rows_read(data: bytes) -> list[dict]:
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise ImportRejected("The file is not UTF-8 text.") from None
    if text.lstrip()[:1] in ("[", "{"):
        try:
            parsed = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ImportRejected(f"The JSON cannot be read ({exc}).") from None
        rows = parsed.get("predictions") if isinstance(parsed, dict) else parsed
        if not isinstance(rows, list):
            raise ImportRejected('JSON: give a list of rows, or {"predictions": [...]}.')
        return [row if isinstance(row, dict) else {} for row in rows]
    reader = csv.DictReader(io.StringIO(text))
    columns = {name.strip().lower() for name in reader.fieldnames or []}
    if "file" not in columns or "confidence" not in columns or columns.isdisjoint(NODE_COLUMNS):
        raise ImportRejected("CSV: the header must name the columns file, node and confidence.")
    return [{(key or "").strip().lower(): value for key, value in row.items()} for row in reader]


@dataclass(frozen=True)
class _Row:
    item_id: int
    node: TaxonomyNode
    confidence: float


class _Matcher:
    """Rows to items and nodes, with the reason when a row names neither."""

    def __init__(self, project: Project, taxonomy: Taxonomy) -> None:
        names = list(Item.objects.filter(project=project).values_list("original_name", "pk"))
        self.by_name = dict(names)
        base_counts = Counter(name.rsplit("/", 1)[-1] for name, _ in names)
        self.by_base = {
            name.rsplit("/", 1)[-1]: pk
            for name, pk in names
            if base_counts[name.rsplit("/", 1)[-1]] == 1
        }
        self.nodes = {node.path: node for node in taxonomy.nodes.all()}

    def match(self, row: dict) -> _Row:
        name = str(row.get("file") or "").strip()
        node_path = next((str(row[key]).strip() for key in NODE_COLUMNS if row.get(key)), "")
        if not name:
            raise ImportRejected("No file.")
        item_id = self.by_name.get(name) or self.by_base.get(name.rsplit("/", 1)[-1])
        if item_id is None:
            raise ImportRejected("No item of the project has this name.")
        node = self.nodes.get(node_path.strip("/"))
        if node is None:
            raise ImportRejected(f"'{node_path}' is not a node of the current taxonomy.")
        try:
            confidence = float(row.get("confidence"))
        except (TypeError, ValueError):
            raise ImportRejected(f"Confidence '{row.get('confidence')}' is not a number.") from None
        if not math.isfinite(confidence) or not 0 <= confidence <= 1:
            raise ImportRejected(f"Confidence {confidence} is not between 0 and 1.")
        return _Row(item_id, node, confidence)

    def prediction(self, row: _Row, version: ModelVersion) -> Prediction:
        parts = row.node.path.split("/")
        levels = [self.nodes["/".join(parts[:depth])] for depth in range(1, len(parts) + 1)]
        verify = row.node.is_leaf and row.confidence >= VERIFY_CONFIDENCE
        return Prediction(
            item_id=row.item_id,
            model_version=version,
            # One probability for the whole path: each level is at least as likely.
            path=[{"node": node.pk, "path": node.path, "p": row.confidence} for node in levels],
            predicted_node=row.node,
            confidence=row.confidence,
            mode=Prediction.Mode.VERIFY if verify else Prediction.Mode.FULL,
            settled_depth=len(levels) if verify else 0,
            strategy="imported",
            priority=1.0 - row.confidence,
        )


def predictions_import(
    *, project: Project, user: AbstractBaseUser, data: bytes, name: str, model_name: str = ""
) -> ImportJob:
    """Import an outside model's predictions; the report is the returned ImportJob."""
    if len(data) > MAX_PREDICTIONS_BYTES:
        raise ImportRejected(f"The file is larger than {MAX_PREDICTIONS_BYTES:,} bytes.")
    taxonomy = taxonomy_current(project=project)
    if taxonomy is None:
        raise ImportRejected("The project has no taxonomy yet.")
    rows = _rows_read(data)
    if len(rows) > MAX_PREDICTION_ROWS:
        raise ImportRejected(f"{len(rows):,} rows: import at most {MAX_PREDICTION_ROWS:,}.")
    matcher = _Matcher(project, taxonomy)
    accepted: dict[int, _Row] = {}
    errors = []
    for number, raw in enumerate(rows, start=1):
        try:
            row = matcher.match(raw)
            if row.item_id in accepted:
                raise ImportRejected("A second row for the same item; the first one is kept.")
            accepted[row.item_id] = row
        except ImportRejected as exc:
            if len(errors) < MAX_REPORTED_ERRORS:
                errors.append({"file": str(raw.get("file") or ""), "error": f"Row {number}: {exc}"})
    now = timezone.now()
    with transaction.atomic():
        job = ImportJob.objects.create(
            project=project,
            created_by=user,
            kind=ImportJob.Kind.PREDICTIONS,
            name=name[-255:],
            source=name[-1000:],
            state=ImportJob.State.SUCCEEDED if accepted else ImportJob.State.FAILED,
            error="" if accepted else "No row could be imported.",
            total=len(rows),
            processed=len(rows),
            imported=len(accepted),
            errors=errors,
            started_at=now,
            finished_at=now,
        )
        if accepted:
            # The version number is taken under the project's lock, as a retrain takes it.
            Project.objects.select_for_update().filter(pk=project.pk).first()
            latest = model_version_latest(project=project)
            version = ModelVersion.objects.create(
                project=project,
                taxonomy=taxonomy,
                version=latest.version + 1 if latest else 1,
                source=ModelVersion.Source.EXTERNAL,
                metrics={"external": {"name": model_name or name, "import_job": job.pk}},
            )
            Prediction.objects.bulk_create(
                [matcher.prediction(row, version) for row in accepted.values()], batch_size=1000
            )
    return job
