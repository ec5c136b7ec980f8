"""The JSON writer: provenance, the taxonomy and every record with its annotations."""

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from django.core.serializers.json import DjangoJSONEncoder

from annotator.exports.options import ExportSpec, export_provenance
from annotator.exports.records import ExportCounts, ExportRecord, PredictionRow
from annotator.selectors import taxonomy_nodes


def json_text(value: Any) -> str:
    """Compact JSON on one line, dates included: the JSON and COCO files are streamed in these."""
    return json.dumps(value, cls=DjangoJSONEncoder, ensure_ascii=False)


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


def counts_json(counts: ExportCounts) -> dict[str, Any]:
    return {"exported": counts.exported, "left_out": dict(counts.left_out)}


def json_write(
    spec: ExportSpec, records: Iterator[ExportRecord], out: Path, counts: ExportCounts
) -> None:
    provenance = export_provenance(spec)
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
        stream.write(f'{{"export": {json_text(provenance)},\n')
        stream.write(f'"taxonomy": {json_text(taxonomy)},\n"items": [')
        for record in records:
            stream.write(("\n" if not counts.exported else ",\n") + json_text(_record_json(record)))
            counts.exported += 1
        stream.write(f'\n],\n"counts": {json_text(counts_json(counts))}}}\n')
