"""The seeded demo project: users, the CIFAR-10 subset and its two-level taxonomy."""

import json
import secrets
from dataclasses import dataclass
from pathlib import Path

from django.contrib.auth import get_user_model
from django.db import transaction

from annotator.imports.job import import_job_enqueue
from annotator.models import ImportJob, Membership, Project
from annotator.projects import project_create

DEMO_DATA = Path(__file__).resolve().parent / "demo_data" / "cifar10"
DEMO_PROJECT_NAME = "CIFAR-10 demo"
DEMO_USERS = (
    ("admin", "admin"),
    ("lead", Membership.Role.LEAD),
    ("annotator1", Membership.Role.ANNOTATOR),
    ("annotator2", Membership.Role.ANNOTATOR),
)


@dataclass(frozen=True)
class DemoSeed:
    project: Project
    import_job: ImportJob | None
    logins: list[tuple[str, str, str]]  # username, password, role


def demo_seed(*, password: str | None = None) -> DemoSeed:
    """Create (once) the demo users and project; the images are imported by the worker.

    Passwords are reset on every run so the printed logins always work.
    """
    password = password or secrets.token_urlsafe(9)
    user_model = get_user_model()
    with transaction.atomic():
        users = {}
        for username, role in DEMO_USERS:
            user, _ = user_model.objects.get_or_create(username=username)
            user.set_password(password)
            user.is_staff = user.is_superuser = role == "admin"
            user.save()
            users[username] = user
        project = Project.objects.filter(name=DEMO_PROJECT_NAME).first()
        job = None
        if project is None:
            project = project_create(
                name=DEMO_PROJECT_NAME,
                created_by=users["admin"],
                description="600 CIFAR-10 images under a vehicle/animal taxonomy.",
                taxonomy=json.loads((DEMO_DATA / "taxonomy.json").read_text()),
            )
            job = import_job_enqueue(
                project=project, user=users["admin"], source=DEMO_DATA / "images", with_labels=True
            )
        for username, role in DEMO_USERS:
            if role != "admin":
                Membership.objects.get_or_create(
                    project=project, user=users[username], defaults={"role": role}
                )
    logins = [(username, password, role) for username, role in DEMO_USERS]
    return DemoSeed(project=project, import_job=job, logins=logins)
