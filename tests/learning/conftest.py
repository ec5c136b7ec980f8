import colorsys
import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from annotator.demo import DEMO_DATA
from annotator.imports.job import images_import
from annotator.models import Item, Membership
from annotator.taxonomy.creation import taxonomy_create
from tests.factories import MembershipFactory, ProjectFactory
from tests.helpers import answer

DEMO_TAXONOMY = json.loads((DEMO_DATA / "taxonomy.json").read_text())
DEMO_LEAVES = [leaf for leaves in DEMO_TAXONOMY["tree"].values() for leaf in leaves]


@pytest.fixture
def small_features(settings):
    """A smaller k-means dictionary: the same code path, seconds instead of a minute."""
    settings.ARBOR_CENTROIDS = 64


@pytest.fixture
def cifar_project(db, small_features):
    """The 600 demo images under the two-level taxonomy, folders kept as ground truth."""
    project = ProjectFactory(batch_size=20, shadow_size=40, retrain_every=20)
    taxonomy_create(project=project, data=DEMO_TAXONOMY)
    images_import(project=project, source=DEMO_DATA / "images", with_labels=True)
    assert project.items.count() == 600
    return project


def easy_images(folder: Path) -> Path:
    """40 images per leaf whose class is plain to see: one hue per leaf, with noise."""
    rng = np.random.default_rng(0)
    for number, leaf in enumerate(DEMO_LEAVES):
        (folder / leaf).mkdir(parents=True)
        hue = np.array(colorsys.hsv_to_rgb(number / len(DEMO_LEAVES), 0.9, 0.9)) * 255
        for copy in range(40):
            pixels = np.clip(hue + rng.normal(0, 25, (32, 32, 3)), 0, 255).astype(np.uint8)
            Image.fromarray(pixels).save(folder / leaf / f"{copy}.png")
    return folder


@pytest.fixture
def easy_project(db, small_features, tmp_path):
    """400 easy images (see ``easy_images``) under the demo taxonomy, labels kept."""
    project = ProjectFactory(batch_size=20, shadow_size=20, retrain_every=20)
    taxonomy_create(project=project, data=DEMO_TAXONOMY)
    images_import(project=project, source=easy_images(tmp_path), with_labels=True)
    return project


@pytest.fixture
def cifar_annotator(cifar_project):
    return MembershipFactory(project=cifar_project, role=Membership.Role.ANNOTATOR).user


def answer_truthfully(project, user, count: int) -> list[Item]:
    """Take ``count`` items from the queue and answer each with its true leaf."""
    from annotator import services

    answered = []
    for _ in range(count):
        lease = services.queue_next(project=project, user=user)
        if lease is None:
            break
        answer(
            project=project,
            user=user,
            node=lease.item.ground_truth_id,
            lease=lease,
            idempotency_key=f"truth-{lease.item.pk}",
        )
        answered.append(lease.item)
    return answered
