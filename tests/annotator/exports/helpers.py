"""Writing exports as their consumers read them back: csv, json, pycocotools, torchvision."""

import csv
import zipfile
from pathlib import Path

from annotator.exports.job import export_write
from annotator.exports.options import export_options_clean, export_spec_build
from annotator.exports.records import ExportCounts


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
