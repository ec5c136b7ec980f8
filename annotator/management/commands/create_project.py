"""Create a project from a taxonomy file and a folder or zip of images.

The new project's id is the last line on stdout, so scripts can take it with `tail -1`.
"""

import zipfile
from pathlib import Path

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from annotator.exceptions import ImportRejected, ServiceError
from annotator.imports.job import images_import
from annotator.models import ImportJob
from annotator.projects import project_create
from annotator.taxonomy.parsing import taxonomy_json_parse

PROGRESS_STEP_PERCENT = 5
ERRORS_SHOWN = 5


class Command(BaseCommand):
    help = "Create a project with its taxonomy and import its images."

    def add_arguments(self, parser):
        parser.add_argument("--name", required=True, help="The project's name")
        parser.add_argument(
            "--taxonomy", required=True, type=Path, help="A taxonomy .json or .csv file"
        )
        parser.add_argument(
            "--levels",
            help="Comma-separated level names for a CSV taxonomy (default level1..N)",
        )
        parser.add_argument(
            "--images", required=True, type=Path, help="An ImageFolder directory or a .zip"
        )
        parser.add_argument(
            "--labels",
            "--with-labels",
            dest="with_labels",
            action="store_true",
            help="Folders named like taxonomy leaves give their images ground truth",
        )
        parser.add_argument("--lead", help="Username of an existing user to make the lead")

    def handle(self, *args, name, taxonomy, levels, images, with_labels, lead, **options):
        # Checked before anything is created, so a typo leaves no empty project behind.
        if not images.is_dir() and not (images.is_file() and zipfile.is_zipfile(images)):
            raise CommandError(f"{images} is neither a folder nor a zip file.")
        taxonomy_source = self._taxonomy_source(taxonomy, levels)
        lead_user = None
        if lead:
            lead_user = get_user_model().objects.filter(username=lead).first()
            if lead_user is None:
                raise CommandError(f"No user named {lead!r}.")

        try:
            project = project_create(name=name, created_by=lead_user, lead=lead, **taxonomy_source)
        except ImportRejected as error:
            raise CommandError(f"{taxonomy}: {error}") from error
        except ServiceError as error:
            raise CommandError(str(error)) from error

        self.stderr.write(f"Importing images from {images} into project {project.pk}...")
        try:
            job = images_import(
                project=project, source=images, with_labels=with_labels, progress=self._progress()
            )
        except ImportRejected as error:
            raise CommandError(
                f"{images}: {error} (project {project.pk} was created without images)"
            ) from error
        self._summary_write(job)
        self.stdout.write(str(project.pk))

    def _taxonomy_source(self, path: Path, levels: str | None) -> dict:
        """The taxonomy keyword arguments of ``project_create`` for this file."""
        suffix = path.suffix.lower()
        if suffix not in (".json", ".csv"):
            raise CommandError(f"{path}: the taxonomy must be a .json or .csv file.")
        try:
            text = path.read_text(encoding="utf-8-sig")
        except FileNotFoundError:
            raise CommandError(f"No such taxonomy file: {path}") from None
        except (OSError, UnicodeDecodeError) as error:
            raise CommandError(f"{path} cannot be read: {error}") from error
        if suffix == ".csv":
            level_names = [level.strip() for level in levels.split(",")] if levels else None
            return {"taxonomy_csv": text, "levels": level_names}
        if levels:
            raise CommandError('--levels is for CSV files; a JSON taxonomy names its "levels".')
        try:
            return {"taxonomy": taxonomy_json_parse(text)}
        except ImportRejected as error:
            raise CommandError(f"{path}: {error}") from error

    def _progress(self):
        """A callback that writes a line each time another 5% of the files are done."""
        last_step = 0

        def report(done: int, total: int) -> None:
            nonlocal last_step
            step = done * 100 // max(total, 1) // PROGRESS_STEP_PERCENT
            if step > last_step:
                last_step = step
                self.stderr.write(f"  {done:,}/{total:,} files ({done * 100 // total}%)")

        return report

    def _summary_write(self, job: ImportJob) -> None:
        skipped = job.processed - job.imported - job.duplicates
        self.stdout.write(
            f"Imported {job.imported:,} images, {job.duplicates:,} duplicates, {skipped:,} skipped."
        )
        for error in job.errors[:ERRORS_SHOWN]:
            self.stdout.write(f"  {error['file']}: {error['error']}")
        if len(job.errors) > ERRORS_SHOWN:
            self.stdout.write(f"  ... see import job {job.pk} for the other errors.")
        for folder in job.unmatched_folders:
            self.stdout.write(
                f"  No ground truth for {folder['files']:,} images in "
                f"'{folder['folder']}': not a leaf of the taxonomy."
            )
