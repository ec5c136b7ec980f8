import json
import os
import signal
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest

from tests.processes import child_pids, free_port, wait_for

ROOT = Path(__file__).resolve().parents[2]


def _demo_environment(var_dir: Path) -> dict:
    """`make demo`'s defaults: SQLite and the filesystem broker, under ``var_dir``, and no
    DJANGO_SETTINGS_MODULE or SECRET_KEY: manage.py's development settings, which the
    worker and the server must get too (the Celery app and wsgi default to production)."""
    unset = ("DATABASE_URL", "CELERY_BROKER_URL", "DJANGO_SETTINGS_MODULE", "SECRET_KEY")
    return {
        **{k: v for k, v in os.environ.items() if k not in unset},
        "ARBOR_VAR_DIR": str(var_dir),
        "DEMO_PASSWORD": "demo-password-1",
    }


@pytest.mark.worker
def test_demo_seeds_through_a_real_worker_on_sqlite(tmp_path):
    """What `make demo` does before serving: SQLite, the filesystem broker, a real worker."""
    environment = _demo_environment(tmp_path)
    run = subprocess.run(
        [sys.executable, "manage.py", "demo", "--seed-only"],
        cwd=ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == 0, run.stderr[-3000:]
    assert "Imported 600 images." in run.stderr

    check = subprocess.run(
        [
            sys.executable,
            "manage.py",
            "shell",
            "-c",
            "from annotator.models import Item, Membership;"
            "from django.contrib.auth import authenticate;"
            "from django.http import HttpRequest;"
            # django-axes wants the request a login comes with.
            "print(Item.objects.count(), Item.objects.filter(ground_truth__isnull=False).count(),"
            " Membership.objects.count(),"
            " authenticate(HttpRequest(), username='lead', password='demo-password-1') is not None)",
        ],
        cwd=ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert check.stdout.splitlines()[-1].split() == ["600", "600", "3", "True"], check.stderr[
        -2000:
    ]
    assert (tmp_path / "arbor.sqlite3").exists()
    assert not (ROOT / "control").exists()  # broker folders stay under the var dir


@pytest.mark.worker
def test_demo_serves_the_project_and_a_sigterm_stops_its_worker_and_server(tmp_path):
    address = f"127.0.0.1:{free_port()}"
    demo = subprocess.Popen(
        [sys.executable, "manage.py", "demo", "--address", address],
        cwd=ROOT,
        env=_demo_environment(tmp_path),
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        announced = []
        for line in demo.stdout:
            announced.append(line)
            if "Press Ctrl-C" in line:
                break
        assert f"http://{address}/" in "".join(announced)

        def token() -> str | None:
            request = urllib.request.Request(
                f"http://{address}/api/auth/token/",
                data=json.dumps({"username": "annotator1", "password": "demo-password-1"}).encode(),
                headers={"Content-Type": "application/json"},
            )
            try:
                with urllib.request.urlopen(request, timeout=5) as response:
                    return json.loads(response.read())["token"]
            except OSError:
                return None  # gunicorn binds a moment after the announcement

        bearer = wait_for(token, 30, "the demo to serve")
        request = urllib.request.Request(
            f"http://{address}/api/projects/",
            headers={"Authorization": f"Token {bearer}"},
        )
        with urllib.request.urlopen(request, timeout=5) as response:
            projects = json.loads(response.read())["results"]
        assert [project["name"] for project in projects] == ["CIFAR-10 demo"]
        children = child_pids(demo.pid)
        assert len(children) == 2  # the worker and the web server

        demo.send_signal(signal.SIGTERM)
        assert demo.wait(timeout=60) == 0
        assert not any(Path(f"/proc/{pid}").exists() for pid in children)
    finally:
        if demo.poll() is None:
            demo.kill()


@pytest.mark.worker
@pytest.mark.parametrize("stop_signal", [signal.SIGINT, signal.SIGTERM])
def test_a_signal_to_the_whole_process_group_stops_the_demo_cleanly(tmp_path, stop_signal):
    """What `make demo` gets from Ctrl-C, or when make itself is stopped: every process of
    the group is signalled at once. The children once got it too, and the demo then
    ended with "The worker or the web server stopped" and an error status."""
    address = f"127.0.0.1:{free_port()}"
    log = tmp_path / "demo.log"
    with log.open("w") as stderr:
        demo = subprocess.Popen(
            [sys.executable, "manage.py", "demo", "--address", address],
            cwd=ROOT,
            env=_demo_environment(tmp_path),
            stdout=subprocess.PIPE,
            stderr=stderr,
            text=True,
            start_new_session=True,  # its own process group, as make's would be
        )
    try:
        for line in demo.stdout:
            if "Press Ctrl-C" in line:
                break
        children = child_pids(demo.pid)
        assert len(children) == 2
        # The worker runs beat too: periodic retrains and job recovery happen.
        wait_for(lambda: "beat: Starting" in log.read_text(), 60, "beat to start")

        os.killpg(demo.pid, stop_signal)

        assert demo.wait(timeout=90) == 0
        assert "stopped; see the log" not in log.read_text()
        assert not any(Path(f"/proc/{pid}").exists() for pid in children)
    finally:
        if demo.poll() is None:
            os.killpg(demo.pid, signal.SIGKILL)
