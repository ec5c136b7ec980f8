import os
import secrets
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import NetworkBlocked

ROOT = Path(__file__).resolve().parent.parent


def _manage(*args, **env):
    environment = {k: v for k, v in os.environ.items() if k != "SECRET_KEY"}
    environment.update(env)
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_production_refuses_to_start_without_secret_key():
    result = _manage("check", DJANGO_SETTINGS_MODULE="annotator.settings.production")
    assert result.returncode != 0
    assert "SECRET_KEY must be set" in result.stderr


# What a deployment runs: gunicorn imports the wsgi module, a worker reads the Celery
# app's configuration.
ENTRY_POINTS = {
    "wsgi": "import annotator.wsgi",
    "celery": "from annotator.celery import app; app.conf.broker_url",
}


def _entry_point(name: str, **env) -> subprocess.CompletedProcess:
    unset = ("DJANGO_SETTINGS_MODULE", "SECRET_KEY", "DEBUG")
    environment = {k: v for k, v in os.environ.items() if k not in unset}
    environment.update(env)
    code = f"{ENTRY_POINTS[name]}; from django.conf import settings; "
    code += "print(settings.SETTINGS_MODULE, settings.DEBUG)"
    return subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.mark.parametrize("name", sorted(ENTRY_POINTS))
def test_entry_points_default_to_production_and_refuse_to_start_without_secret_key(name):
    result = _entry_point(name)
    assert result.returncode != 0
    assert "ImproperlyConfigured: SECRET_KEY must be set" in result.stderr


@pytest.mark.parametrize("name", sorted(ENTRY_POINTS))
def test_entry_points_load_production_with_a_secret_key(name):
    result = _entry_point(name, SECRET_KEY=secrets.token_urlsafe(50))
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["annotator.settings.production", "False"]


def test_production_passes_deploy_checks():
    result = _manage(
        "check",
        "--deploy",
        "--fail-level",
        "WARNING",
        DJANGO_SETTINGS_MODULE="annotator.settings.production",
        SECRET_KEY=secrets.token_urlsafe(50),
        ALLOWED_HOSTS="arbor.example.org",
    )
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize(
    "name, value, message",
    [
        ("DEBUG", "maybe", "DEBUG='maybe' is not a boolean"),
        ("ARBOR_MAX_IMAGE_PIXELS", "ten", "ARBOR_MAX_IMAGE_PIXELS='ten' is not an integer"),
        (
            "ARBOR_LABEL_REVIEW_MIN_ACCURACY",
            "high",
            "ARBOR_LABEL_REVIEW_MIN_ACCURACY='high' is not a number",
        ),
    ],
)
def test_bad_environment_value_stops_start_up(name, value, message):
    result = _manage("check", **{name: value})
    assert result.returncode != 0
    assert message in result.stderr


def test_network_beyond_localhost_is_blocked():
    with pytest.raises(NetworkBlocked):
        socket.create_connection(("192.0.2.1", 80), timeout=1)


def test_localhost_is_reachable():
    with socket.create_connection(("127.0.0.1", 5432), timeout=2):
        pass
