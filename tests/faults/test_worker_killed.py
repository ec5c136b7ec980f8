"""A Celery worker SIGKILLed in the middle of an import, an export and a training run:
the job is taken over by a new worker (beat's recovery sends it again once its heartbeat
is stale), completes, and nothing is written twice."""

import csv
import time
from pathlib import Path

import numpy as np
import pytest
from django.conf import settings
from PIL import Image

from annotator.exports.job import export_start
from annotator.imports.job import import_job_enqueue
from annotator.jobs import Job
from annotator.models import (
    Annotation,
    Export,
    ImportJob,
    Item,
    Membership,
    ModelVersion,
    Prediction,
)
from annotator.selectors import taxonomy_current
from learning import services
from learning.models import LabelIssue, TrainingRun
from tests.factories import MembershipFactory, items_bulk_create
from tests.learning.conftest import answer_truthfully
from tests.processes import wait_for

pytestmark = [pytest.mark.slow, pytest.mark.worker, pytest.mark.django_db(transaction=True)]

# The new worker's beat looks for lost jobs every second; heartbeats go stale after 3 s.
RECOVERY = {"ARBOR_JOBS_RECOVER_SECONDS": "1", "ARBOR_TRAINING_PERIOD_SECONDS": "1"}


def _state(model, pk) -> str:
    return model.objects.get(pk=pk).state


def _kill_and_recover(workers, paused, model, pk, timeout=120) -> float:
    """Kill the paused worker, start a new one, and wait for the job to succeed: the
    seconds from the kill to success."""
    assert _state(model, pk) == Job.State.RUNNING
    paused.kill()
    killed = time.monotonic()
    fresh = workers(beat=True, environment=RECOVERY)
    done = (Job.State.SUCCEEDED, Job.State.FAILED)
    wait_for(lambda: _state(model, pk) in done, timeout, f"{model.__name__} {pk} to finish")
    job = model.objects.get(pk=pk)
    assert job.state == Job.State.SUCCEEDED, job.error + fresh.log.read_text()[-3000:]
    assert job.attempts == 2
    return time.monotonic() - killed


def _images(folder: Path, count: int) -> Path:
    rng = np.random.default_rng(0)
    folder.mkdir()
    for number in range(count):
        pixels = rng.integers(0, 255, (8, 8, 3), dtype=np.uint8)
        Image.fromarray(pixels).save(folder / f"{number}.png")
    return folder


def test_import_killed_after_its_first_batch_is_finished_once(project, lead, workers, tmp_path):
    source = _images(tmp_path / "images", 500)
    paused = workers(pause_after="annotator.imports.job:_ImportRun.flush")
    job = import_job_enqueue(project=project, user=lead, source=source, with_labels=False)
    wait_for(paused.paused, 60, "the import's first batch")
    assert Item.objects.filter(project=project).count() == 200  # one batch, then stopped

    seconds = _kill_and_recover(workers, paused, ImportJob, job.pk)

    job.refresh_from_db()
    items = Item.objects.filter(project=project)
    assert items.count() == 500
    assert items.values("content_hash").distinct().count() == 500
    # The second attempt started over: the first batch's images count as duplicates.
    assert (job.total, job.imported + job.duplicates) == (500, 500)
    stored = {
        path.name for path in (Path(settings.MEDIA_ROOT) / f"projects/{project.pk}").rglob("*.*")
    }
    assert stored == {Path(name).name for name in items.values_list("image", flat=True)}
    print(f"import recovered in {seconds:.1f} s")


def _labeled_items(project, annotator, count: int) -> None:
    leaf = taxonomy_current(project=project).nodes.filter(is_leaf=True).first()
    items = items_bulk_create(project, range(count), state=Item.State.LABELED)
    Annotation.objects.bulk_create(
        Annotation(
            project=project,
            item=item,
            annotator=annotator,
            node=leaf,
            source=Annotation.Source.MANUAL,
        )
        for item in items
    )


def test_export_killed_after_its_first_chunk_is_finished_once(project, lead, workers):
    _labeled_items(project, lead, 2500)  # two chunks of records (CHUNK_SIZE 2000)
    # Beats: the first with the total, the second after the first chunk is written.
    paused = workers(pause_after="annotator.jobs:Claim.beat", pause_calls=2)
    export = export_start(project=project, user=lead, format=Export.Format.CSV, options=None)
    wait_for(paused.paused, 60, "the export's first chunk")
    assert Export.objects.get(pk=export.pk).processed == 2000

    seconds = _kill_and_recover(workers, paused, Export, export.pk)

    export.refresh_from_db()
    assert (export.total, export.processed, export.exported) == (2500, 2500, 2500)
    with export.file.open("r") as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == 2500
    assert len({row["item_id"] for row in rows}) == 2500
    # One file: the killed attempt's partial file is gone with it.
    folder = Path(export.file.path).parent
    assert [path.name for path in folder.iterdir()] == [Path(export.file.name).name]
    print(f"export recovered in {seconds:.1f} s")


def test_training_run_killed_after_its_writes_is_finished_once(easy_project, workers):
    annotator = MembershipFactory(project=easy_project, role=Membership.Role.ANNOTATOR).user
    answer_truthfully(easy_project, annotator, 60)
    # Stopped after the whole round wrote its model version, predictions and label
    # issues, before the run is marked succeeded: the takeover runs the round again.
    paused = workers(pause_after="learning.pipeline:round_run")
    run, _ = services.training_run_request(project=easy_project, trigger="manual")
    wait_for(paused.paused, 120, "the run's round to be written")
    assert ModelVersion.objects.filter(project=easy_project).count() == 1

    seconds = _kill_and_recover(workers, paused, TrainingRun, run.pk, timeout=180)

    versions = ModelVersion.objects.filter(project=easy_project)
    assert list(versions.values_list("training_run", "version")) == [(run.pk, 1)]
    unlabeled = Item.objects.filter(project=easy_project, state=Item.State.UNLABELED).count()
    assert Prediction.objects.filter(model_version__project=easy_project).count() == unlabeled
    issues = LabelIssue.objects.filter(project=easy_project)
    assert issues.count() == issues.values("annotation").distinct().count()
    checkpoint = Path(settings.MEDIA_ROOT) / versions.get().checkpoint
    assert [path.name for path in checkpoint.parent.glob("model-*")] == ["model-v1.pt"]
    print(f"training run recovered in {seconds:.1f} s")
