from pathlib import Path

import pytest

from annotator.models import Annotation
from tests.annotator.export_data import annotate, model_version, predict
from tests.factories import UserFactory, item_create

AUTO = Annotation.Source.AUTO


@pytest.fixture(autouse=True)
def media_root(settings, tmp_path) -> Path:
    settings.MEDIA_ROOT = tmp_path / "media"
    return settings.MEDIA_ROOT


@pytest.fixture
def people(db):
    return {name: UserFactory(username=name) for name in ("alice", "bob", "carol")}


@pytest.fixture
def labeled(project, people):
    """Items covering each case of the label rule, keyed by what they show."""
    alice, bob, carol = people["alice"], people["bob"], people["carol"]
    items = {
        name: item_create(project, seed)
        for seed, name in enumerate(
            ["agreed", "majority", "coarse", "auto", "unlabeled", "tie"], start=1
        )
    }
    annotate(items["agreed"], "animal/cat", source=AUTO, minute=0)
    annotate(items["agreed"], "animal/cat", annotator=alice, minute=1)
    annotate(items["agreed"], "animal/cat", annotator=bob, minute=2, source="confirmed")
    annotate(items["majority"], "vehicle/truck", annotator=alice, minute=1)
    annotate(items["majority"], "vehicle/airplane", annotator=bob, minute=2)
    annotate(items["majority"], "vehicle/truck", annotator=carol, minute=3, source="corrected")
    annotate(items["coarse"], "animal", annotator=alice, minute=1)
    annotate(items["auto"], "animal/dog", source=AUTO, minute=1)
    annotate(items["tie"], "animal/frog", annotator=alice, minute=1)
    annotate(items["tie"], "animal/dog", annotator=bob, minute=2)
    first, second = model_version(project, 1), model_version(project, 2)
    predict(items["agreed"], "animal/cat", version=first, confidence=0.9)
    predict(items["agreed"], "animal/dog", version=second, confidence=0.7)
    predict(items["majority"], "vehicle/truck", version=first, confidence=0.6)
    return items
