"""Run the demo: migrate, seed, start a real Celery worker and the web server."""

import os
import signal
import subprocess
import sys
import time

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError

from annotator.demo import demo_seed
from annotator.models import ImportJob


class Command(BaseCommand):
    help = "Seed the demo project and serve it with a worker (Ctrl-C stops both)."

    def add_arguments(self, parser):
        parser.add_argument("--address", default="127.0.0.1:8000")
        parser.add_argument(
            "--seed-only", action="store_true", help="Seed and import, then exit without serving"
        )

    def handle(self, *args, address: str, seed_only: bool, **options):
        # A plain `kill` (or a supervisor stopping us) must stop the worker and the server
        # too: turn SIGTERM into the same KeyboardInterrupt as Ctrl-C, so `finally` runs.
        # SIGINT too, explicitly: started from a shell's background job, Python inherits
        # it ignored and would never stop on it.
        signal.signal(signal.SIGTERM, signal.default_int_handler)
        signal.signal(signal.SIGINT, signal.default_int_handler)
        settings.VAR_DIR.mkdir(parents=True, exist_ok=True)
        call_command("migrate", interactive=False, verbosity=0)
        call_command("collectstatic", interactive=False, verbosity=0)
        seed = demo_seed(password=os.environ.get("DEMO_PASSWORD"))
        # The worker and the server run on our settings (SQLite, the development ones),
        # not on the production settings that the Celery app and wsgi default to.
        environment = {**os.environ, "DJANGO_SETTINGS_MODULE": settings.SETTINGS_MODULE}
        worker = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "celery",
                "-A",
                "annotator",
                "worker",
                "--loglevel",
                "INFO",
                "--concurrency",
                "1",
                "--queues",
                "default,training,embed",
                # Embedded beat: periodic retrains, and recovery of lost jobs.
                "--beat",
            ],
            # Their own sessions: a signal to our process group (make stopped, Ctrl-C)
            # reaches us alone, and we stop them in order below.
            start_new_session=True,
            env=environment,
        )
        server = None
        try:
            if seed.import_job is not None:
                self._wait_for_import(seed.import_job)
            if seed_only:
                return
            server = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "gunicorn",
                    "annotator.wsgi",
                    "--bind",
                    address,
                    "--workers",
                    "2",
                    "--threads",
                    "4",
                    "--access-logfile",
                    "-",
                ],
                start_new_session=True,
                env=environment,
            )
            self._announce(address, seed)
            while worker.poll() is None and server.poll() is None:
                time.sleep(1)
            raise CommandError("The worker or the web server stopped; see the log above.")
        except KeyboardInterrupt:
            pass
        finally:
            for process in (server, worker):
                if process is not None:
                    _stop(process)

    def _wait_for_import(self, job: ImportJob) -> None:
        self.stderr.write(f"The worker is importing the demo images (import {job.pk})...")
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:
            job.refresh_from_db()
            if job.state == ImportJob.State.SUCCEEDED:
                self.stderr.write(f"Imported {job.imported} images.")
                return
            if job.state == ImportJob.State.FAILED:
                raise CommandError(f"The demo import failed: {job.error}")
            time.sleep(1)
        raise CommandError("The demo import did not finish within 5 minutes; is the worker up?")

    def _announce(self, address: str, seed) -> None:
        lines = [
            "",
            f"Arbor is running at http://{address}/",
            f"  API docs:     http://{address}/api/docs/",
            f"  Django admin: http://{address}/admin/",
            f"  Demo project: {seed.project.name} (id {seed.project.pk})",
            "  Logins (username / password / role):",
            *(f"    {user} / {password} / {role}" for user, password, role in seed.logins),
            "Press Ctrl-C to stop.",
        ]
        self.stdout.write("\n".join(lines))


def _stop(process: subprocess.Popen) -> None:
    """SIGTERM (a worker finishes its task), then SIGQUIT (a worker's cold shutdown: its
    warm one can hang on the filesystem broker), then SIGKILL."""
    for stop_signal, patience in ((signal.SIGTERM, 20), (signal.SIGQUIT, 10), (signal.SIGKILL, 10)):
        if process.poll() is not None:
            return
        process.send_signal(stop_signal)
        try:
            process.wait(timeout=patience)
        except subprocess.TimeoutExpired:
            continue
