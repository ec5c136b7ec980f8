"""Settings for the test suite: PostgreSQL, as in production."""

import os
import tempfile

import dj_database_url

from annotator.settings.base import *  # noqa: F403
from annotator.settings.env import env_bool, env_int

DATABASES = {
    "default": dj_database_url.parse(
        os.environ.get("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/test"),
        # Closed after each request, except in the servers that fault tests start.
        conn_max_age=env_int("DATABASE_CONN_MAX_AGE", 0),
        conn_health_checks=True,
    )
}
# A worker started by a test is given the test process's folder through MEDIA_ROOT.
MEDIA_ROOT = Path(os.environ.get("MEDIA_ROOT") or tempfile.mkdtemp(prefix="arbor-test-media-"))  # noqa: F405
STATIC_ROOT = Path(tempfile.mkdtemp(prefix="arbor-test-static-"))  # noqa: F405
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
CELERY_TASK_ALWAYS_EAGER = env_bool("CELERY_TASK_ALWAYS_EAGER", True)
CELERY_BROKER_URL = os.environ.get("TEST_CELERY_BROKER_URL", "redis://127.0.0.1:6379/15")
CELERY_BROKER_TRANSPORT_OPTIONS = {}
# Tests that are about retraining switch it on; elsewhere answers must not start one.
ARBOR_AUTO_RETRAIN = env_bool("ARBOR_AUTO_RETRAIN", False)
# Django's Client.login() authenticates without a request, which django-axes refuses; the
# tests of login throttling switch it on.
AXES_ENABLED = False
LOGGING = {"version": 1, "disable_existing_loggers": False}
