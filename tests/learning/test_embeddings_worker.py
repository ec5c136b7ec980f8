"""The embeddings task on a real Celery worker (the `embed` queue), killed mid-way."""

import os
import signal

import numpy as np
import pytest
from django.db import connection

from annotator.celery import app as celery_app
from annotator.imports.job import images_import
from learning import embeddings
from learning.models import ProjectBackbone
from tests.factories import ProjectFactory
from tests.learning.test_embeddings import photos
from tests.processes import QUEUES, Worker, wait_for

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def paused_worker(tmp_path):
    """A worker that stops for good once it has stored two chunks of embeddings."""
    with celery_app.connection_for_write() as broker:
        for queue in QUEUES:
            broker.default_channel.queue_purge(queue)
    celery_app.conf.task_always_eager = False
    running = Worker(
        tmp_path / "worker.log",
        environment={"ARBOR_EMBED_CHUNK": "3"},
        pause_after="learning.core.embedding_store:EmbeddingStore.append",
        pause_calls=2,
    )
    yield running
    running.stop()
    celery_app.conf.task_always_eager = True
    connection.close()


def _chunks(project):
    folder = embeddings.project_folder(project) / "embeddings" / "small-resnet"
    return {path.name: len(np.load(path)["ids"]) for path in folder.glob("chunk-*.npz")}


def test_an_import_is_embedded_by_the_worker_which_resumes_after_a_kill(tmp_path, paused_worker):
    project = ProjectFactory()
    ProjectBackbone.objects.create(project=project, name="small-resnet")
    images_import(project=project, source=photos(tmp_path / "photos"), with_labels=False)

    wait_for(paused_worker.paused, 120, "the worker to store two chunks")
    first = _chunks(project)
    assert sorted(first.values()) == [3, 3]
    for child in paused_worker.children():
        os.kill(child, signal.SIGKILL)  # mid-task: the message goes back to the queue

    def finished():
        return embeddings.embeddings_progress(project=project)["embedded"] == 8

    wait_for(finished, 120, "the redelivered task to embed the rest")
    after = _chunks(project)
    # The two chunks stored before the kill were kept; only the last two items were new.
    assert {name: after[name] for name in first} == first
    assert sorted(after.values()) == [2, 3, 3]
