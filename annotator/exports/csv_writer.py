"""The CSV writer: one row per record, a column per taxonomy level."""

import csv
import datetime as dt
from collections.abc import Iterator
from pathlib import Path

from annotator.consensus import path_at_level
from annotator.exports.options import ExportSpec
from annotator.exports.records import ExportCounts, ExportRecord


def _iso(moment: dt.datetime | None) -> str:
    return moment.isoformat() if moment else ""


# What a spreadsheet reads as the start of a formula (OWASP, "CSV Injection"). File names,
# usernames and node names are user input: such a cell gets a leading quote, which
# spreadsheets show as text. Quoting every cell keeps a "," or ";" inside a cell from
# starting a new cell in a spreadsheet that splits on either.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def csv_cell(value: object) -> object:
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


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


def csv_write(
    spec: ExportSpec, records: Iterator[ExportRecord], out: Path, counts: ExportCounts
) -> None:
    levels = spec.taxonomy.levels
    fixed = set(CSV_COLUMNS_BEFORE_LEVELS + CSV_COLUMNS_AFTER_LEVELS)
    with out.open("w", newline="", encoding="utf-8") as stream:
        writer = csv.writer(stream, quoting=csv.QUOTE_ALL)
        header = [
            *CSV_COLUMNS_BEFORE_LEVELS,
            *_level_columns(levels, fixed),  # level names are user input too
            *CSV_COLUMNS_AFTER_LEVELS,
        ]
        writer.writerow(map(csv_cell, header))
        for record in records:
            label, prediction = record.label, record.prediction
            agreement = label.final_agreement
            row = [
                record.item.original_name,
                record.item.content_hash,
                record.item.id,
                *(path_at_level(label.path, depth) or "" for depth in range(1, len(levels) + 1)),
                label.path,
                label.source,
                # Each name too: the documented way to read this cell is to split it.
                ";".join(map(csv_cell, record.annotators)),
                len(record.human_annotations),
                "" if agreement is None else round(agreement, 4),
                prediction.model_version if prediction else "",
                round(prediction.confidence, 4) if prediction else "",
                spec.taxonomy.version,
                _iso(record.item.created_at),
                _iso(label.labeled_at),
            ]
            writer.writerow(map(csv_cell, row))
            counts.exported += 1
