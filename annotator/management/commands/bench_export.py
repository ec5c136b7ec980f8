"""Benchmark the exporters on synthetic projects of two sizes (not a test).

Creates (or reuses) a project of ``--items`` labeled items and one a tenth of that size,
then runs ``manage.py export`` for each format in a child process and reports the wall
time, the items per second and the child's peak resident memory. Memory that stays flat
from the small project to the large one is what "constant memory" means here.

Use a scratch database and media folder: the projects stay there for the next run.
"""

import hashlib
import io
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.files.base import ContentFile
from django.core.management.base import BaseCommand
from django.db import connection, transaction
from PIL import Image

from annotator.models import (
    Annotation,
    Export,
    Item,
    ModelVersion,
    Prediction,
    Project,
)
from annotator.taxonomy.creation import taxonomy_create

TREE = {
    "levels": ["coarse", "fine"],
    "tree": {
        "vehicle": ["airplane", "automobile", "ship", "truck"],
        "animal": ["bird", "cat", "deer", "dog", "frog", "horse"],
    },
}
ANNOTATORS = 5
BATCH = 5000
POLL_SECONDS = 0.02


def _high_water_kib(pid: int) -> int:
    """Peak resident memory of a running process (Linux), 0 once it has exited."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return 0
    line = next((line for line in status.splitlines() if line.startswith("VmHWM:")), None)
    return int(line.split()[1]) if line else 0


class Command(BaseCommand):
    help = "Time the exporters on a synthetic project and its tenth (wall time, peak RSS)."

    def add_arguments(self, parser):
        parser.add_argument("--items", type=int, default=100_000, help="The large project's size")
        parser.add_argument(
            "--format",
            action="append",
            choices=Export.Format.values,
            help="Repeat for several (default: all)",
        )
        parser.add_argument("--layout", choices=("nested", "flat"), default="nested")
        parser.add_argument("--out-dir", type=Path, help="Where the files go (default: a temp dir)")

    def handle(self, *args, items, format, layout, out_dir, **options):
        formats = format or Export.Format.values
        out_dir = out_dir or Path(tempfile.mkdtemp(prefix="arbor-bench-export-"))
        out_dir.mkdir(parents=True, exist_ok=True)
        sizes = [items // 10, items]
        projects = {size: self._project(size) for size in sizes}
        self.stdout.write(
            f"{'format':<12} {'items':>8} {'seconds':>8} {'items/s':>9} {'peak RSS MiB':>13} "
            f"{'file MiB':>9}"
        )
        for export_format in formats:
            for size in sizes:
                out = out_dir / f"{size}.{export_format}"
                seconds, peak_kib = self._export(projects[size], export_format, layout, out)
                self.stdout.write(
                    f"{export_format:<12} {size:>8,} {seconds:>8.1f} {size / seconds:>9,.0f} "
                    f"{peak_kib / 1024:>13.0f} {out.stat().st_size / 1024**2:>9.1f}"
                )

    def _export(self, project: Project, export_format: str, layout: str, out: Path):
        """Run the export command in a child process: (wall seconds, peak RSS in KiB)."""
        arguments = [sys.executable, str(settings.BASE_DIR / "manage.py"), "export"]
        arguments += ["--project", str(project.pk), "--format", export_format, "--out", str(out)]
        if export_format == Export.Format.IMAGEFOLDER:
            arguments += ["--layout", layout]
        started = time.perf_counter()
        child = subprocess.Popen(arguments, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        # The child's own high-water mark, read while it runs: getrusage() would report
        # this process's peak too, which exec() carries over into the child's figure.
        peak_kib = 0
        while child.poll() is None:
            peak_kib = max(peak_kib, _high_water_kib(child.pid))
            time.sleep(POLL_SECONDS)
        seconds = time.perf_counter() - started
        if child.returncode != 0:
            raise RuntimeError(f"The export of project {project.pk} as {export_format} failed.")
        return seconds, peak_kib

    def _project(self, size: int) -> Project:
        name = f"bench export {size} items"
        project = Project.objects.filter(name=name).first()
        if project and project.items.count() == size:
            self.stderr.write(f"Reusing project {project.pk} ({name}).")
            return project
        self.stderr.write(f"Creating project '{name}'...")
        started = time.perf_counter()
        with transaction.atomic():
            if project:
                project.delete()
            project = Project.objects.create(name=name)
            taxonomy = taxonomy_create(project=project, data=TREE)
            self._populate(project, taxonomy, size)
        if connection.vendor == "postgresql":
            # Fresh statistics, as autovacuum would soon give a real bulk-loaded project.
            with connection.cursor() as cursor:
                cursor.execute("ANALYZE")
        self.stderr.write(f"  created in {time.perf_counter() - started:.0f} s")
        return project

    def _populate(self, project: Project, taxonomy, size: int) -> None:
        nodes = {node.pk: node for node in taxonomy.nodes.all()}
        leaves = [node for node in nodes.values() if node.is_leaf]
        users = [
            get_user_model().objects.get_or_create(username=f"bench-annotator-{number}")[0]
            for number in range(ANNOTATORS)
        ]
        model = ModelVersion.objects.create(project=project, taxonomy=taxonomy, version=1)
        randomness = random.Random(size)
        buffer = io.BytesIO()
        Image.new("RGB", (8, 8), (120, 60, 30)).save(buffer, format="PNG")
        image = buffer.getvalue()
        for start in range(0, size, BATCH):
            batch = []
            for number in range(start, min(start + BATCH, size)):
                # Real, distinct files (the same pixels, a different tail) for the zip.
                data = image + number.to_bytes(8, "big")
                item = Item(
                    project=project,
                    original_name=f"{number:07d}.png",
                    content_hash=hashlib.sha256(data).hexdigest(),
                    format="PNG",
                    width=8,
                    height=8,
                    state=Item.State.LABELED,
                )
                item.image.save(item.original_name, ContentFile(data), save=False)
                batch.append(item)
            Item.objects.bulk_create(batch)
            annotations, predictions = [], []
            for item in batch:
                truth = randomness.choice(leaves)
                predictions.append(
                    Prediction(
                        item=item,
                        model_version=model,
                        predicted_node=truth,
                        confidence=randomness.random(),
                    )
                )
                if randomness.random() < 0.1:  # auto-accepted, no human
                    annotations.append(
                        Annotation(project=project, item=item, node=truth, source="auto")
                    )
                    continue
                for user in randomness.sample(users, randomness.choice((1, 1, 2, 3))):
                    answer = truth if randomness.random() < 0.8 else randomness.choice(leaves)
                    if randomness.random() < 0.05:  # coarse-only
                        answer = nodes[answer.parent_id]
                    annotations.append(
                        Annotation(
                            project=project,
                            item=item,
                            annotator=user,
                            node=answer,
                            source="manual",
                            duration_ms=randomness.randint(500, 5000),
                        )
                    )
            Annotation.objects.bulk_create(annotations)
            Prediction.objects.bulk_create(predictions)
