"""An import's report as CSV: what came in, what was skipped, and each refused file with
its reason. File names are the uploader's: cells are made safe as the exports' are."""

import csv
import io

from annotator.exports.csv_writer import csv_cell
from annotator.imports.models import ImportJob

REPORT_COLUMNS = ["file", "outcome", "detail"]


def import_report_csv(*, job: ImportJob) -> str:
    stream = io.StringIO()
    writer = csv.writer(stream, quoting=csv.QUOTE_ALL)
    rows = [
        REPORT_COLUMNS,
        ["", "imported", job.imported],
        ["", "duplicates skipped", job.duplicates],
        *([["", "failed", job.error]] if job.error else []),
        *([error["file"], "refused", error["error"]] for error in job.errors),
        *(
            [folder["folder"], "no matching leaf", f"{folder['files']} files, no label"]
            for folder in job.unmatched_folders
        ),
    ]
    for row in rows:
        writer.writerow(map(csv_cell, row))
    return stream.getvalue()
