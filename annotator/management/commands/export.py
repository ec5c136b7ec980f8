"""Export a project's labeled items to a file, synchronously, for scripts.

Runs the same writers as the worker; progress goes to stderr, the summary to stdout.
"""

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from annotator.exceptions import InvalidInput
from annotator.exports.job import export_write
from annotator.exports.options import LAYOUTS, export_options_clean, export_spec_build
from annotator.exports.records import ExportCounts
from annotator.models import Export, Project


class Command(BaseCommand):
    help = "Export a project's labels as CSV, JSON, COCO or an ImageFolder zip."
    # The system checks load the URLconf and with it the learning stack (torch): seconds
    # and hundreds of MB that an export does not use.
    requires_system_checks = []

    def add_arguments(self, parser):
        parser.add_argument("--project", required=True, type=int, help="The project's id")
        parser.add_argument("--format", required=True, choices=Export.Format.values)
        parser.add_argument("--out", required=True, type=Path, help="The file to write")
        parser.add_argument(
            "--human-only", action="store_true", help="Leave auto-accepted labels out entirely"
        )
        parser.add_argument(
            "--include-auto",
            action="store_true",
            help="Also export items labeled only by an auto-accepted prediction",
        )
        parser.add_argument(
            "--min-agreement", type=float, help="Leave out labels with lower agreement (0 to 1)"
        )
        parser.add_argument("--layout", choices=LAYOUTS, help="ImageFolder: nested or flat")

    def handle(self, *args, project, format, out, **options):
        project_row = Project.objects.filter(pk=project).first()
        if project_row is None:
            raise CommandError(f"No project {project}.")
        raw = {
            "human_only": options["human_only"],
            "include_auto": options["include_auto"],
            "min_agreement": options["min_agreement"],
        }
        if options["layout"]:
            raw["layout"] = options["layout"]
        try:
            cleaned = export_options_clean(format=format, options=raw)
            spec = export_spec_build(project=project_row, format=format, options=cleaned)
        except InvalidInput as error:
            raise CommandError(str(error)) from error

        counts = export_write(spec=spec, destination=out, progress=self._progress)
        left_out = ", ".join(f"{count:,} {reason}" for reason, count in counts.left_out.items())
        self.stdout.write(
            f"Exported {counts.exported:,} items to {out}"
            + (f" (left out: {left_out})." if left_out else ".")
        )

    def _progress(self, counts: ExportCounts) -> None:
        self.stderr.write(f"  {counts.processed:,}/{counts.total:,} items")
