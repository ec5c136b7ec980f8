"""Load benchmark of the labeling queue over HTTP: K annotators against gunicorn.

    python manage.py bench_queue --items 100000 --annotators 16 --seconds 60

Creates a project of N items (rows only: the queue never opens an image), one user and
token per annotator, starts gunicorn on loopback with the current settings, and runs K
threads that each ask for the next item and answer it, as the labeling page does. It
prints next-item and answer latency (p50, p99), answer pairs per second, items handed out
twice and answers lost, first alone and then while a retrain's write phase rewrites the
priority of every unlabeled item in short batches (as ``learning.pipeline`` does), and
deletes the project at the end. Use PostgreSQL (``DATABASE_URL``), as in production.
"""

import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from dataclasses import dataclass, field

import numpy as np
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError
from django.db import connection, transaction
from rest_framework.authtoken.models import Token

from annotator.items import items_statistics_refresh
from annotator.models import Annotation, Item, Membership, Project
from annotator.projects import project_create
from learning.pipeline import WRITE_BATCH

TAXONOMY = {"levels": ["coarse", "fine"], "tree": {"a": ["a1", "a2"], "b": ["b1", "b2"]}}
ROW_BATCH = 5000


@dataclass
class Phase:
    """What the annotators measured in one phase."""

    next_ms: list[float] = field(default_factory=list)
    answer_ms: list[float] = field(default_factory=list)
    handed: list[int] = field(default_factory=list)
    answered: list[int] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    empty: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)


def _percentile(values: list[float], q: float) -> float:
    return float(np.percentile(values, q)) if values else float("nan")


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class Command(BaseCommand):
    help = "Benchmark the labeling queue over HTTP with concurrent annotators."

    def add_arguments(self, parser):
        parser.add_argument("--items", type=int, default=100_000)
        parser.add_argument("--annotators", type=int, default=16)
        parser.add_argument("--seconds", type=float, default=60, help="Per phase")
        parser.add_argument("--workers", type=int, default=2, help="gunicorn workers")
        parser.add_argument("--threads", type=int, default=4, help="gunicorn threads each")
        parser.add_argument("--no-retrain", action="store_true", help="Skip the second phase")
        parser.add_argument("--out", help="Also write the figures to this JSON file")

    def handle(self, *args, items, annotators, seconds, workers, threads, no_retrain, out, **_):
        if connection.vendor != "postgresql":
            raise CommandError("Run it on PostgreSQL (DATABASE_URL), as in production.")
        project, tokens, leaf = self._project(items, annotators)
        port = _free_port()
        server = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "gunicorn",
                "annotator.wsgi",
                "--bind",
                f"127.0.0.1:{port}",
                "--workers",
                str(workers),
                "--threads",
                str(threads),
            ],
            # The server runs with the settings this command runs with.
            env={**os.environ, "DJANGO_SETTINGS_MODULE": settings.SETTINGS_MODULE},
            stderr=subprocess.DEVNULL,
        )
        results = {}
        try:
            self._wait_for(port)
            results["alone"] = self._phase(port, project, tokens, leaf, seconds, retrain=False)
            if not no_retrain:
                results["during_retrain"] = self._phase(
                    port, project, tokens, leaf, seconds, retrain=True
                )
        finally:
            server.send_signal(signal.SIGTERM)
            server.wait(timeout=30)
            # Answers protect their taxonomy's nodes: they go first.
            Annotation.objects.filter(project=project).delete()
            Project.objects.filter(pk=project.pk).delete()
            get_user_model().objects.filter(username__startswith=f"bench-{project.pk}-").delete()
        summary = {
            "items": items,
            "annotators": annotators,
            "seconds_per_phase": seconds,
            "gunicorn": f"{workers}x{threads}",
            **results,
        }
        self.stdout.write(json.dumps(summary, indent=2))
        if out:
            with open(out, "w") as handle:
                json.dump(summary, handle, indent=2)

    def _project(self, items: int, annotators: int):
        project = project_create(
            name=f"bench_queue {time.strftime('%Y-%m-%d %H:%M:%S')}",
            created_by=None,
            taxonomy=TAXONOMY,
        )
        leaf = project.taxonomies.get().nodes.filter(is_leaf=True).first().pk
        rng = np.random.default_rng(0)
        for start in range(0, items, ROW_BATCH):
            Item.objects.bulk_create(
                Item(
                    project=project,
                    original_name=f"{number}.png",
                    content_hash=uuid.uuid4().hex * 2,
                    format="PNG",
                    width=8,
                    height=8,
                    image=f"bench/{number}.png",
                    priority=float(rng.random()),
                )
                for number in range(start, min(start + ROW_BATCH, items))
            )
        items_statistics_refresh()  # as an import of this size does
        tokens = []
        for number in range(annotators):
            user = get_user_model().objects.create_user(
                username=f"bench-{project.pk}-{number}", password=uuid.uuid4().hex
            )
            Membership.objects.create(project=project, user=user, role=Membership.Role.ANNOTATOR)
            tokens.append(Token.objects.create(user=user).key)
        self.stderr.write(f"project {project.pk}: {items:,} items, {annotators} annotators")
        return project, tokens, leaf

    def _wait_for(self, port: int) -> None:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=1):
                    return
            except OSError:
                time.sleep(0.2)
        raise CommandError("gunicorn did not start")

    def _phase(self, port, project, tokens, leaf, seconds, *, retrain: bool) -> dict:
        phase = Phase()
        stop = threading.Event()
        before = Annotation.objects.filter(project=project).count()
        annotators = [
            threading.Thread(
                target=self._annotate, args=(port, project.pk, token, leaf, phase, stop)
            )
            for token in tokens
        ]
        writer = threading.Thread(target=self._rewrite_priorities, args=(project, stop))
        started = time.perf_counter()
        for thread in annotators:
            thread.start()
        if retrain:
            writer.start()
        time.sleep(seconds)
        stop.set()
        for thread in annotators:
            thread.join()
        if retrain:
            writer.join()
        elapsed = time.perf_counter() - started
        stored = Annotation.objects.filter(project=project).count() - before
        handed = len(phase.handed)
        return {
            "next_p50_ms": round(_percentile(phase.next_ms, 50), 1),
            "next_p99_ms": round(_percentile(phase.next_ms, 99), 1),
            "answer_p50_ms": round(_percentile(phase.answer_ms, 50), 1),
            "answer_p99_ms": round(_percentile(phase.answer_ms, 99), 1),
            "pairs_per_second": round(len(phase.answered) / elapsed, 1),
            "answers": len(phase.answered),
            "double_handouts": handed - len(set(phase.handed)),
            "lost_answers": len(phase.answered) - stored,
            "empty_queue_answers": phase.empty,
            "errors": len(phase.errors),
            "first_errors": phase.errors[:5],
        }

    def _annotate(self, port, project_id, token, leaf, phase: Phase, stop) -> None:
        client = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        headers = {"Authorization": f"Token {token}", "Content-Type": "application/json"}

        def call(path, body=None):
            started = time.perf_counter()
            client.request("POST", path, body=json.dumps(body or {}), headers=headers)
            response = client.getresponse()
            payload = response.read()
            return response.status, payload, (time.perf_counter() - started) * 1000

        while not stop.is_set():
            try:
                status, payload, took = call(f"/api/projects/{project_id}/queue/next/")
                if status == 204:
                    with phase.lock:
                        phase.empty += 1
                    time.sleep(0.5)  # the labeling page waits too before it asks again
                    continue
                if status != 200:
                    raise RuntimeError(f"next: {status} {payload[:200]!r}")
                lease = json.loads(payload)
                item = lease["item"]["id"]
                with phase.lock:
                    phase.next_ms.append(took)
                    phase.handed.append(item)
                status, payload, took = call(
                    f"/api/items/{item}/annotations/",
                    {
                        "node": leaf,
                        "lease": lease["lease"]["id"],
                        "idempotency_key": uuid.uuid4().hex,
                    },
                )
                if status not in (200, 201):
                    raise RuntimeError(f"answer: {status} {payload[:200]!r}")
                with phase.lock:
                    phase.answer_ms.append(took)
                    phase.answered.append(item)
            except Exception as error:  # recorded, and the annotator goes on
                with phase.lock:
                    phase.errors.append(str(error))
                client.close()
                client = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        client.close()

    def _rewrite_priorities(self, project, stop) -> None:
        """A retrain's write phase, over and over: every unlabeled item's priority, in the
        pipeline's short batches."""
        rng = np.random.default_rng(1)
        while not stop.is_set():
            ids = list(
                Item.objects.filter(project=project, state=Item.State.UNLABELED).values_list(
                    "pk", flat=True
                )
            )
            for start in range(0, len(ids), WRITE_BATCH):
                if stop.is_set():
                    break
                chunk = ids[start : start + WRITE_BATCH]
                priorities = rng.random(len(chunk))
                with transaction.atomic():
                    Item.objects.bulk_update(
                        [
                            Item(pk=pk, priority=float(p))
                            for pk, p in zip(chunk, priorities, strict=True)
                        ],
                        ["priority"],
                    )
        connection.close()
