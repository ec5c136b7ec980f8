import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.worker
def test_demo_seeds_through_a_real_worker_on_sqlite(tmp_path):
    """What `make demo` does before serving: SQLite, the filesystem broker, a real worker."""
    environment = {
        **{k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "CELERY_BROKER_URL")},
        "DJANGO_SETTINGS_MODULE": "annotator.settings.base",
        "ARBOR_VAR_DIR": str(tmp_path),
        "DEMO_PASSWORD": "demo-password-1",
    }
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
            "print(Item.objects.count(), Item.objects.filter(ground_truth__isnull=False).count(),"
            " Membership.objects.count(), authenticate(username='lead', password='demo-password-1') is not None)",
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
