"""Browser tests: Playwright drives Debian's Chromium against pytest-django's live server."""

import os
import shutil
from pathlib import Path

import pytest
from django.test import override_settings
from pytest_django.live_server_helper import LiveServer

from annotator.demo import DEMO_DATA
from annotator.imports.job import images_import
from annotator.models import Membership
from annotator.taxonomy.creation import taxonomy_create
from tests.factories import (
    PASSWORD,
    MembershipFactory,
    ModelVersionFactory,
    PredictionFactory,
    ProjectFactory,
    UserFactory,
)
from tests.learning.conftest import DEMO_TAXONOMY

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-background-networking",
    "--disable-gpu",
    "--disable-dev-shm-usage",
]
VIEWPORT = {"width": 1280, "height": 800}
DOCS_SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"


@pytest.fixture(scope="session")
def live_server():
    """pytest-django's live server, with a MEDIA_URL its media handler can live with.

    Django's live server wraps the site in a handler for MEDIA_URL, which Arbor leaves
    unset on purpose (images go through the scoped API only). An off-site MEDIA_URL makes
    that handler pass every request through, so nothing is served from MEDIA_ROOT.
    """
    with override_settings(MEDIA_URL="http://media.invalid/"):
        server = LiveServer("localhost")
        yield server
        server.stop()


@pytest.fixture(scope="module")
def browser(django_db_setup):
    """Chromium, for one test module at a time.

    While Playwright's sync API runs, an event loop sits in this thread, and Django's
    async-safety check would refuse the synchronous ORM calls of the tests and of the
    database flush after each one; DJANGO_ALLOW_ASYNC_UNSAFE lifts it. The test database
    is created before, and the variable is gone after the module, so tests elsewhere
    (`check --deploy` in a subprocess) never see it.
    """
    if not os.access(CHROMIUM, os.X_OK):
        pytest.skip(f"{CHROMIUM} is missing: run frontend/tests/ensure-chromium.sh")
    from playwright.sync_api import sync_playwright

    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
        with sync_playwright() as playwright:
            chromium = playwright.chromium.launch(
                executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True
            )
            yield chromium
            chromium.close()


@pytest.fixture
def screenshots(tmp_path) -> Path:
    """Where screenshots go: docs/screenshots/ only when ``ARBOR_SCREENSHOTS=1`` asks.

    Otherwise a temporary folder, so that a plain test run leaves tracked files alone.
    """
    folder = DOCS_SCREENSHOTS if os.environ.get("ARBOR_SCREENSHOTS") == "1" else tmp_path
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@pytest.fixture
def page(browser, live_server, transactional_db):
    context = browser.new_context(
        viewport=VIEWPORT, base_url=live_server.url, accept_downloads=True
    )
    context.set_default_timeout(10_000)
    page = context.new_page()
    yield page
    close_quietly(context)


def close_quietly(context) -> None:
    """Close a browser context without leaving requests for the live server.

    Leaving a page hands its leases back (keepalive requests). After the test they would
    reach the server while the database is being emptied, so they are stopped here, and
    requests already on their way get a moment to finish.
    """
    context.route("**/api/**", lambda route: route.abort())
    pages = context.pages
    for open_page in pages:
        open_page.goto("about:blank")
    if pages:
        pages[0].wait_for_timeout(300)
    context.close()


def login(page, user) -> None:
    page.goto("/login/")
    page.get_by_label("Username").fill(user.username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url("**/")


@pytest.fixture
def cifar(transactional_db, tmp_path):
    """A project of real CIFAR-10 images under the demo's two-level taxonomy.

    ``cifar(count)`` imports ``count`` demo images taken round-robin over the ten classes,
    with their folders as ground truth (kept server-side, as for any labelled import).
    """

    def build(count: int, **project_fields):
        project = ProjectFactory(name="CIFAR-10 pets & vehicles", **project_fields)
        taxonomy_create(project=project, data=DEMO_TAXONOMY)
        folder = tmp_path / f"images-{project.pk}"
        classes = sorted(path for path in (DEMO_DATA / "images").iterdir() if path.is_dir())
        for number in range(count):
            leaf = classes[number % len(classes)]
            source = sorted(leaf.iterdir())[number // len(classes)]
            (folder / leaf.name).mkdir(parents=True, exist_ok=True)
            shutil.copy(source, folder / leaf.name / source.name)
        images_import(project=project, source=folder, with_labels=True)
        return project

    return build


def member(project, role=Membership.Role.ANNOTATOR, username=None):
    user = UserFactory(username=username) if username else UserFactory()
    return MembershipFactory(project=project, role=role, user=user).user


def predict(
    project, items, *, leaf: str, mode: str, confidence=0.9, coarse=0.98, settled_depth=0, version=1
):
    """Stored predictions of ``leaf`` for ``items``, as a retrain would write them."""
    taxonomy = project.taxonomies.get()
    model = project.model_versions.filter(version=version).first() or ModelVersionFactory(
        project=project, taxonomy=taxonomy, version=version
    )
    node = taxonomy.nodes.get(path=leaf)
    levels = [
        {"node": node.parent_id, "path": node.parent.path, "p": max(coarse, confidence)},
        {"node": node.pk, "path": node.path, "p": confidence},
    ]
    return [
        PredictionFactory(
            item=item,
            model_version=model,
            path=levels,
            predicted_node=node,
            confidence=confidence,
            mode=mode,
            settled_depth=settled_depth,
        )
        for item in items
    ]
