"""Settings for local use. Every value can be overridden from the environment.

| variable           | default                                        |
|--------------------|------------------------------------------------|
| DATABASE_URL       | sqlite:///<repo>/var/arbor.sqlite3             |
| CELERY_BROKER_URL  | filesystem:// (folders under <repo>/var/broker) |
| SECRET_KEY         | an insecure development key                    |
| MEDIA_ROOT         | <repo>/var/media                               |
| ARBOR_STORAGE      | filesystem (MEDIA_ROOT), or s3: see README     |
| ALLOWED_HOSTS      | localhost,127.0.0.1                            |
| DEBUG              | true                                           |
"""

from datetime import timedelta
from pathlib import Path

import dj_database_url

from annotator.settings.env import (
    env_bool,
    env_choice,
    env_float,
    env_int,
    env_list,
    env_required,
    env_str,
)

BASE_DIR = Path(__file__).resolve().parent.parent.parent
VAR_DIR = Path(env_str("ARBOR_VAR_DIR", str(BASE_DIR / "var")))

SECRET_KEY = env_str("SECRET_KEY", "django-insecure-local-development-only")
DEBUG = env_bool("DEBUG", True)
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["localhost", "127.0.0.1"])
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "rest_framework.authtoken",
    "axes",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "annotator",
    "learning",
    "frontend",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # Last, as django-axes asks: it turns a lockout into a 429 answer.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "annotator.urls"
WSGI_APPLICATION = "annotator.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

DATABASES = {
    "default": dj_database_url.parse(
        env_str("DATABASE_URL", f"sqlite:///{VAR_DIR / 'arbor.sqlite3'}"),
        # Persistent connections: setting one up cost more than a queue request itself.
        # Checked before each request, so a restarted database costs no failed request.
        conn_max_age=env_int("DATABASE_CONN_MAX_AGE", 60),
        conn_health_checks=True,
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # The demo runs a web server and a worker on one SQLite file: WAL lets readers go on
    # while one writes, and IMMEDIATE transactions queue writers instead of failing.
    DATABASES["default"]["OPTIONS"] = {
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        "transaction_mode": "IMMEDIATE",
        "timeout": 30,
    }

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# django-axes first: it refuses a locked-out login before any password is checked.
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
# Password guessing: after ARBOR_LOGIN_FAILURE_LIMIT wrong passwords for one username from
# one IP address, that pair is refused (429) for ARBOR_LOGIN_COOLOFF_MINUTES, on /login/,
# /admin/login/ and /api/auth/token/. Keyed on the pair, so that nobody can lock another
# person out from elsewhere; a successful login clears the count.
AXES_FAILURE_LIMIT = env_int("ARBOR_LOGIN_FAILURE_LIMIT", 5)
AXES_COOLOFF_TIME = timedelta(minutes=env_int("ARBOR_LOGIN_COOLOFF_MINUTES", 15))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
# Lockouts are logged; its start-up banner on every command is not needed.
AXES_VERBOSE = False
# Proxies in front of Django that append the client's address to X-Forwarded-For (nginx
# in docker/compose.yaml): throttling counts by the address the outermost one saw. With 0
# the header is not trusted (a client could write it) and the connection's address counts.
ARBOR_TRUSTED_PROXIES = env_int("ARBOR_TRUSTED_PROXIES", 0)
AXES_CLIENT_IP_CALLABLE = "annotator.auth.client_ip"
# API tokens stop working this long after they were issued; a new login issues a new one.
ARBOR_TOKEN_TTL_HOURS = env_int("ARBOR_TOKEN_TTL_HOURS", 720)

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = Path(env_str("STATIC_ROOT", str(VAR_DIR / "static")))
MEDIA_ROOT = Path(env_str("MEDIA_ROOT", str(VAR_DIR / "media")))
# Item images are served only through the scoped API, never from a public MEDIA_URL.
MEDIA_URL = None

# Uploads: a zip of images may be large; Django spools anything past 2.5 MB to disk.
DATA_UPLOAD_MAX_MEMORY_SIZE = 10 * 1024 * 1024
FILE_UPLOAD_MAX_MEMORY_SIZE = 2_621_440

# Where item images, uploaded zips and exports are kept: MEDIA_ROOT on this machine, or an
# S3-compatible bucket (AWS S3, MinIO, Ceph...) that web servers and workers on several
# machines share. Credentials come from boto3's usual places: AWS_ACCESS_KEY_ID and
# AWS_SECRET_ACCESS_KEY, or the machine's role.
ARBOR_STORAGE = env_choice("ARBOR_STORAGE", "filesystem", ("filesystem", "s3"))
if ARBOR_STORAGE == "s3":
    _media_storage = {
        "BACKEND": "storages.backends.s3.S3Storage",
        "OPTIONS": {
            "bucket_name": env_required("ARBOR_S3_BUCKET", "when ARBOR_STORAGE=s3"),
            "endpoint_url": env_str("ARBOR_S3_ENDPOINT_URL", "") or None,
            "region_name": env_str("ARBOR_S3_REGION", "") or None,
            "location": env_str("ARBOR_S3_PREFIX", ""),
            # As on a filesystem: a name taken gets a new one. An import that lost a race
            # for an image deletes its own copy, which must not be the winner's.
            "file_overwrite": False,
            # Private objects: Arbor serves them after its access check, never by URL.
            "default_acl": None,
            # A file read from the bucket is spooled to disk past this size, not held in memory.
            "max_memory_size": FILE_UPLOAD_MAX_MEMORY_SIZE,
        },
    }
else:
    _media_storage = {"BACKEND": "django.core.files.storage.FileSystemStorage"}
STORAGES = {
    "default": _media_storage,
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
ARBOR_MAX_UPLOAD_BYTES = env_int("ARBOR_MAX_UPLOAD_BYTES", 2 * 1024**3)
# A resumable upload that received nothing for this long is deleted, with its parts.
ARBOR_UPLOAD_EXPIRE_HOURS = env_int("ARBOR_UPLOAD_EXPIRE_HOURS", 24)
# Largest image accepted, checked from the header before any decoding.
ARBOR_MAX_IMAGE_PIXELS = env_int("ARBOR_MAX_IMAGE_PIXELS", 50_000_000)
# Open leases one person may hold in a project, so that nobody leases the queue away from
# colleagues. Room for a grid page (24) leased while the previous page's answer is on its
# way, or one grid page and the labeling page's item on screen and three leased ahead.
ARBOR_MAX_OPEN_LEASES = env_int("ARBOR_MAX_OPEN_LEASES", 50)
# Admins create projects; with this on, anyone who leads a project may create more.
ARBOR_LEADS_CREATE_PROJECTS = env_bool("ARBOR_LEADS_CREATE_PROJECTS", False)

LOGIN_URL = "/login/"
LOGIN_REDIRECT_URL = "/"
LOGOUT_REDIRECT_URL = "/login/"

SECURE_CONTENT_TYPE_NOSNIFF = True
X_FRAME_OPTIONS = "DENY"

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        # Token first: its WWW-Authenticate header makes a missing login a 401, not a 403.
        "annotator.auth.ExpiringTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_PAGINATION_CLASS": "annotator.api.pagination.Pagination",
    "PAGE_SIZE": 50,
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "annotator.api.errors.exception_handler",
}

SPECTACULAR_SETTINGS = {
    "TITLE": "Arbor API",
    "DESCRIPTION": "Hierarchy-aware image annotation and active learning.",
    "VERSION": "0.1.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "COMPONENT_SPLIT_REQUEST": True,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    # Several models have a "state". Imports, exports and training runs share one set
    # of job states; the others are named after their model.
    "ENUM_NAME_OVERRIDES": {
        "JobStateEnum": "annotator.models.ImportJob.State",
        "ItemStateEnum": "annotator.models.Item.State",
        "LabelIssueStateEnum": "learning.models.LabelIssue.State",
        "ImportKindEnum": "annotator.imports.models.ImportJob.Kind",
        "MappingKindEnum": "annotator.models.TaxonomyNodeMapping.Kind",
        "GuideExampleKindEnum": "learning.models.GuideExample.Kind",
        "ModelVersionSourceEnum": "annotator.models.ModelVersion.Source",
        "PretrainMethodEnum": "learning.models.PretrainRun.Method",
    },
}

# Celery. The default broker needs no server: kombu's filesystem transport exchanges
# messages through two folders, which is enough for the demo's single worker.
CELERY_BROKER_URL = env_str("CELERY_BROKER_URL", "filesystem://")
_broker_folder = VAR_DIR / "broker"
CELERY_BROKER_TRANSPORT_OPTIONS = (
    {
        "data_folder_in": str(_broker_folder / "out"),
        "data_folder_out": str(_broker_folder / "out"),
        "processed_folder": str(_broker_folder / "processed"),
        "control_folder": str(_broker_folder / "control"),
        "store_processed": False,
    }
    if CELERY_BROKER_URL.startswith("filesystem")
    else {}
)
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_SOFT_TIME_LIMIT = env_int("CELERY_TASK_SOFT_TIME_LIMIT", 30 * 60)
CELERY_TASK_TIME_LIMIT = env_int("CELERY_TASK_TIME_LIMIT", 35 * 60)
CELERY_TASK_DEFAULT_QUEUE = "default"
CELERY_TASK_ALWAYS_EAGER = env_bool("CELERY_TASK_ALWAYS_EAGER", False)
# Training has its own queue so that a GPU worker can take it alone.
CELERY_TASK_ROUTES = {
    "learning.tasks.training_run": {"queue": "training"},
    "learning.tasks.pretrain": {"queue": "training"},
    # Embeddings too: a GPU worker can take them (`--queues embed`) as images arrive.
    "learning.tasks.embeddings_compute": {"queue": "embed"},
}
CELERY_BEAT_SCHEDULE = {
    "training-periodic": {
        "task": "learning.tasks.training_periodic",
        "schedule": env_int("ARBOR_TRAINING_PERIOD_SECONDS", 300),
    },
    # Imports and exports whose message or worker was lost are sent again.
    "jobs-recover": {
        "task": "annotator.tasks.jobs_recover",
        "schedule": env_int("ARBOR_JOBS_RECOVER_SECONDS", 300),
    },
}
# An import or export whose worker stopped beating for this long is taken over (imports
# beat from a thread, exports with each chunk of progress).
ARBOR_IMPORT_HEARTBEAT_SECONDS = env_int("ARBOR_IMPORT_HEARTBEAT_SECONDS", 10)
ARBOR_IMPORT_STALE_SECONDS = env_int("ARBOR_IMPORT_STALE_SECONDS", 300)
ARBOR_EXPORT_STALE_SECONDS = env_int("ARBOR_EXPORT_STALE_SECONDS", 600)
CELERY_BEAT_SCHEDULE_FILENAME = str(VAR_DIR / "celerybeat-schedule")

# The loop. Retrain after `retrain_every` new answers (a project setting) when on.
ARBOR_AUTO_RETRAIN = env_bool("ARBOR_AUTO_RETRAIN", True)
# A project's backbone until a lead chooses one (learning/core/backbones.py lists them).
ARBOR_DEFAULT_BACKBONE = env_str("ARBOR_DEFAULT_BACKBONE", "patch-kmeans")
ARBOR_CENTROIDS = env_int("ARBOR_CENTROIDS", 400)
# Weights files leads may choose; pretrained weights otherwise come from torch hub's cache.
ARBOR_WEIGHTS_DIR = Path(env_str("ARBOR_WEIGHTS_DIR", str(VAR_DIR / "weights")))
# Whether a worker may download pretrained weights missing from the caches.
ARBOR_ALLOW_DOWNLOADS = env_bool("ARBOR_ALLOW_DOWNLOADS", False)
# Threads decoding images for the embeddings.
ARBOR_DECODE_WORKERS = env_int("ARBOR_DECODE_WORKERS", 2)
# Items embedded between two writes of the store: what a killed worker can lose.
ARBOR_EMBED_CHUNK = env_int("ARBOR_EMBED_CHUNK", 256)
# Self-supervised pretraining (learning.pretraining): the longest budget a lead may
# give, and the images per SimCLR step (more is better; memory bounds it on a GPU).
ARBOR_PRETRAIN_MAX_SECONDS = env_int("ARBOR_PRETRAIN_MAX_SECONDS", 8 * 3600)
ARBOR_PRETRAIN_BATCH_SIZE = env_int("ARBOR_PRETRAIN_BATCH_SIZE", 128)
ARBOR_TRAINING_HEARTBEAT_SECONDS = env_int("ARBOR_TRAINING_HEARTBEAT_SECONDS", 10)
# A running run whose heartbeat is older than this lost its worker.
ARBOR_TRAINING_STALE_SECONDS = env_int("ARBOR_TRAINING_STALE_SECONDS", 120)
ARBOR_LABEL_REVIEW_MIN_LABELS = env_int("ARBOR_LABEL_REVIEW_MIN_LABELS", 50)
# Probabilities are calibrated on the shadow sample once it has this many labels.
ARBOR_CALIBRATION_MIN_LABELS = env_int("ARBOR_CALIBRATION_MIN_LABELS", 20)
# Label review trusts a level's out-of-sample predictions only from this accuracy on.
ARBOR_LABEL_REVIEW_MIN_ACCURACY = env_float("ARBOR_LABEL_REVIEW_MIN_ACCURACY", 0.6)

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": env_str("LOG_LEVEL", "INFO")},
}
