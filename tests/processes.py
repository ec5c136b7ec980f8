"""Helpers for tests that start real processes: a Celery worker, gunicorn, Redis, a
PostgreSQL cluster of their own, the demo."""

from __future__ import annotations

import http.client
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from django.conf import settings
from django.db import connection

ROOT = Path(__file__).resolve().parents[1]
QUEUES = ("default", "training", "embed")


def wait_for(condition, timeout: float, what: str):
    """``condition()``'s first truthy result within ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if result := condition():
            return result
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def child_pids(pid: int) -> list[int]:
    output = subprocess.run(
        ["ps", "-o", "pid=", "--ppid", str(pid)], capture_output=True, text=True
    ).stdout
    return [int(child) for child in output.split()]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _listening(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return True
    except OSError:
        return False


def database_url(**overrides) -> str:
    """The test database's URL (what this process uses), with ``overrides``."""
    database = {**connection.settings_dict, **overrides}
    login = database["USER"] + (f":{database['PASSWORD']}" if database.get("PASSWORD") else "")
    return f"postgres://{login}@{database['HOST']}:{database['PORT']}/{database['NAME']}"


def process_environment(**overrides: str) -> dict[str, str]:
    """What a worker or server started by a test runs with: the test settings on this
    process's database and media folder, and short heartbeats so takeovers come soon."""
    return {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "annotator.settings.test",
        "DATABASE_URL": database_url(),
        "MEDIA_ROOT": str(settings.MEDIA_ROOT),
        "CELERY_TASK_ALWAYS_EAGER": "false",
        "ARBOR_CENTROIDS": str(settings.ARBOR_CENTROIDS),
        "ARBOR_TRAINING_HEARTBEAT_SECONDS": "1",
        "ARBOR_TRAINING_STALE_SECONDS": "3",
        "ARBOR_IMPORT_HEARTBEAT_SECONDS": "1",
        "ARBOR_IMPORT_STALE_SECONDS": "3",
        "ARBOR_EXPORT_STALE_SECONDS": "3",
        **overrides,
    }


class _Process:
    """A child in its own session, so that a signal can reach it and its children."""

    process: subprocess.Popen

    def _start(self, command: list[str], environment: dict, log: Path) -> None:
        self.process = subprocess.Popen(
            command,
            cwd=ROOT,
            env=environment,
            stdout=log.open("a"),
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def kill(self) -> None:
        """SIGKILL to the whole process group: no clean-up runs anywhere."""
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait()

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.kill()


class Worker(_Process):
    """A `celery worker` process on the test database (and ``broker``, if given).

    ``beat`` embeds Celery beat, whose schedule recovers lost jobs; ``pause_after``
    (``module:attribute``, see ``tests/faults/pause.py``) stops the worker for good at a
    chosen point of a job, for a test to kill it there.
    """

    def __init__(
        self,
        log: Path,
        *,
        broker: str | None = None,
        environment: dict[str, str] | None = None,
        beat: bool = False,
        pause_after: str | None = None,
        pause_calls: int = 1,
    ):
        self.log = log
        self.pause_flag = log.with_suffix(".paused")
        overrides = dict(environment or {})
        if broker:
            overrides["TEST_CELERY_BROKER_URL"] = broker
        prefix = [sys.executable, "-m"]
        if pause_after:
            overrides.update(
                ARBOR_TEST_PAUSE_AFTER=pause_after,
                ARBOR_TEST_PAUSE_CALLS=str(pause_calls),
                ARBOR_TEST_PAUSE_FLAG=str(self.pause_flag),
            )
            prefix += ["tests.faults.pause"]
        command = [
            *prefix,
            "celery",
            "-A",
            "annotator",
            "worker",
            "--loglevel",
            "INFO",
            "--concurrency",
            "1",
            "--queues",
            ",".join(QUEUES),
            "--without-gossip",
            "--without-mingle",
            "--hostname",
            f"test-{os.getpid()}-{log.stem}@%h",
        ]
        if beat:
            # The schedule file goes beside the log, not into the shared var folder.
            command += ["--beat", "--schedule", str(log.with_suffix(".schedule"))]
        self._start(command, process_environment(**overrides), log)

    def children(self) -> list[int]:
        return child_pids(self.process.pid)

    def paused(self) -> bool:
        """Whether the job reached the point ``pause_after`` named (and stays there)."""
        return self.pause_flag.exists()


class WebServer(_Process):
    """gunicorn serving the app on a free port, as in production."""

    def __init__(self, log: Path, *, environment: dict[str, str] | None = None):
        self.port = free_port()
        self._start(
            [
                sys.executable,
                "-m",
                "gunicorn",
                "annotator.wsgi",
                "--bind",
                f"127.0.0.1:{self.port}",
                "--workers",
                "2",
                "--threads",
                "4",
            ],
            process_environment(**(environment or {})),
            log,
        )
        wait_for(lambda: _listening(self.port), 60, "gunicorn to listen")

    def call(self, method: str, path: str, *, token: str, body=None) -> tuple[int, dict | None]:
        """One request on a new connection: ``(status, JSON body)``; raises OSError when
        the server cannot be reached."""
        client = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
        try:
            client.request(
                method,
                path,
                body=None if body is None else json.dumps(body),
                headers={"Authorization": f"Token {token}", "Content-Type": "application/json"},
            )
            response = client.getresponse()
            payload = response.read()
        finally:
            client.close()
        is_json = response.getheader("Content-Type", "").startswith("application/json")
        return response.status, json.loads(payload) if payload and is_json else None


class RedisServer(_Process):
    """A Redis of the test's own on a free port, without persistence: stopping it loses
    every message, as a flushed broker does."""

    def __init__(self, log: Path):
        self.port = free_port()
        self.log = log
        self.start()

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        command = ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1"]
        self._start([*command, "--save", "", "--appendonly", "no"], dict(os.environ), self.log)
        wait_for(lambda: _listening(self.port), 20, "redis-server to listen")


class PostgresCluster:
    """A PostgreSQL cluster of the test's own (initdb, pg_ctl), so that restarting it
    touches nobody else's databases."""

    BIN = Path("/usr/lib/postgresql/15/bin")

    def __init__(self):
        self.port = free_port()
        self.folder = Path(tempfile.mkdtemp(prefix="arbor-test-pg-"))
        # initdb refuses to run as root: the cluster belongs to the postgres user then.
        self._as = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
        if self._as:
            shutil.chown(self.folder, "postgres")
        self._run("initdb", "-D", self.data, "-U", "postgres", "--auth=trust", "--no-sync")
        self.start()

    @property
    def data(self) -> str:
        return str(self.folder / "data")

    def url(self, name: str) -> str:
        return f"postgres://postgres@127.0.0.1:{self.port}/{name}"

    def _run(self, program: str, *arguments: str) -> None:
        subprocess.run(
            [*self._as, str(self.BIN / program), *arguments], check=True, capture_output=True
        )

    def _ctl(self, *arguments: str) -> None:
        options = f"-p {self.port} -k {self.folder} -c listen_addresses=127.0.0.1 -c fsync=off"
        log = str(self.folder / "server.log")
        self._run("pg_ctl", "-D", self.data, "-o", options, "-l", log, "-w", *arguments)

    def start(self) -> None:
        self._ctl("start")

    def restart(self) -> None:
        """A fast shutdown (every session is ended) and a start."""
        self._ctl("restart", "-m", "fast")

    def copy_of_test_database(self, name: str) -> str:
        """A database here holding what the test database holds now; its URL."""
        self._run("createdb", "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres", name)
        dump = subprocess.run(
            ["pg_dump", "--no-owner", database_url()], check=True, capture_output=True
        ).stdout
        subprocess.run(
            ["psql", "-q", "-v", "ON_ERROR_STOP=1", self.url(name)],
            input=dump,
            check=True,
            capture_output=True,
        )
        return self.url(name)

    def remove(self) -> None:
        subprocess.run(
            [*self._as, str(self.BIN / "pg_ctl"), "-D", self.data, "-m", "immediate", "stop"],
            capture_output=True,
        )
        shutil.rmtree(self.folder, ignore_errors=True)
