"""The COCO writer: every taxonomy node a category, one whole-image box per record."""

import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

from annotator.exports.json_writer import json_text
from annotator.exports.options import ARBOR_VERSION, ExportSpec, export_provenance
from annotator.exports.records import ExportCounts, ExportRecord, stored_file_name
from annotator.selectors import taxonomy_nodes


def coco_write(
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
    provenance = export_provenance(spec)
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
        stream.write(f'{{"info": {json_text(info)},\n"licenses": [],\n')
        stream.write(f'"categories": {json_text(categories)},\n"images": [')
        for record in records:
            category = category_of.get(record.label.path)
            if category is None:
                counts.left_out["not_in_taxonomy"] += 1
                continue
            item = record.item
            separator = "\n" if not counts.exported else ",\n"
            image = {
                "id": item.id,
                "file_name": stored_file_name(item),
                "width": item.width,
                "height": item.height,
                "original_name": item.original_name,
            }
            stream.write(separator + json_text(image))
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
            annotations.write(separator + json_text(annotation))
        stream.write('\n],\n"annotations": [')
        annotations.seek(0)
        shutil.copyfileobj(annotations, stream)
        stream.write("\n]}\n")
