"""The ImageFolder writer: a zip of the images, in one folder per label."""

import json
import logging
import shutil
import zipfile
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

from annotator.exports.json_writer import counts_json
from annotator.exports.options import ExportSpec, export_provenance
from annotator.exports.records import ExportCounts, ExportRecord, stored_file_name
from annotator.models import Item

logger = logging.getLogger(__name__)


def _folder_name(name: str) -> str:
    # Node names may be anything but "/": never let one climb out of its folder.
    name = name.replace("\\", "_").replace("\0", "_")
    return f"_{name}" if name in (".", "..") else name


def imagefolder_write(
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
            arcname = "/".join([*map(_folder_name, folders), stored_file_name(record.item)])
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
        provenance = {
            **export_provenance(spec),
            "layout": spec.options.layout,
            **counts_json(counts),
        }
        archive.writestr("PROVENANCE.json", json.dumps(provenance, indent=2, ensure_ascii=False))
