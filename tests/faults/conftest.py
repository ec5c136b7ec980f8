"""Fault tests: real processes (a Celery worker, gunicorn, Redis, PostgreSQL) killed or
stopped in the middle of the work, on a broker and a database of the test's own."""

import pytest
from django.db import connection

from annotator.celery import app as celery_app
from tests.processes import RedisServer, Worker


def _broker_use(url: str) -> None:
    celery_app.conf.broker_url = url
    # Celery's own reset after a fork: the pooled connections to the old broker go.
    celery_app._after_fork()


@pytest.fixture
def redis_server(tmp_path):
    server = RedisServer(tmp_path / "redis.log")
    yield server
    server.stop()


@pytest.fixture
def broker(redis_server):
    """This process sends its tasks to the test's Redis, not eagerly, during the test."""
    previous = celery_app.conf.broker_url
    _broker_use(redis_server.url)
    celery_app.conf.task_always_eager = False
    yield redis_server
    celery_app.conf.task_always_eager = True
    _broker_use(previous)


@pytest.fixture
def workers(tmp_path, broker):
    """``workers(**options)`` starts a ``Worker`` on the test's broker; all are stopped
    at the end."""
    started = []

    def start(**options) -> Worker:
        worker = Worker(tmp_path / f"worker-{len(started)}.log", broker=broker.url, **options)
        started.append(worker)
        return worker

    yield start
    for worker in started:
        worker.stop()
    connection.close()


# The learning tests' projects, for the faults that hit a training run.
from tests.learning.conftest import easy_project, small_features  # noqa: E402, F401
