"""The zero-shot first model: a CLIP project with no model yet gets predictions from its
class names, marked zero-shot in the queue."""

import json

import open_clip
import pytest
from safetensors.torch import save_file

from annotator.models import ModelVersion, Prediction
from learning.models import ProjectBackbone
from learning.zeroshot_round import zeroshot_due, zeroshot_round_run
from tests.factories import item_create

TINY = "arbor-test-tiny-clip"  # registered below: a few layers, random weights
TINY_CONFIG = {
    "embed_dim": 16,
    "vision_cfg": {"image_size": 32, "layers": 1, "width": 32, "patch_size": 8, "head_width": 16},
    "text_cfg": {"context_length": 16, "vocab_size": 49408, "width": 32, "heads": 2, "layers": 1},
}


@pytest.fixture
def clip_project(project, settings, tmp_path, monkeypatch):
    """The project on a tiny, randomly initialised open_clip model from a local file."""
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    config = tmp_path / f"{TINY}.json"
    config.write_text(json.dumps(TINY_CONFIG))
    open_clip.add_model_config(config)
    settings.ARBOR_WEIGHTS_DIR = tmp_path / "weights"
    settings.ARBOR_WEIGHTS_DIR.mkdir()
    model = open_clip.create_model(TINY, pretrained=None)
    save_file(
        {name: tensor.contiguous() for name, tensor in model.state_dict().items()},
        settings.ARBOR_WEIGHTS_DIR / "tiny.safetensors",
    )
    ProjectBackbone.objects.create(
        project=project, name=f"open_clip:{TINY}", weights="tiny.safetensors"
    )
    for seed in range(6):
        item_create(project, seed)
    return project


@pytest.mark.django_db
def test_a_clip_project_without_a_model_gets_zero_shot_predictions(clip_project, annotator, api):
    version = zeroshot_round_run(project=clip_project)

    assert (version.version, version.source, version.backbone) == (
        1,
        "zero_shot",
        f"open_clip:{TINY}",
    )
    assert version.backbone_weights.endswith("tiny.safetensors")
    predictions = Prediction.objects.filter(model_version=version)
    assert predictions.count() == 6
    for prediction in predictions:
        assert prediction.predicted_node.is_leaf
        assert [level["path"].count("/") for level in prediction.path] == [0, 1]
        assert 0.0 <= prediction.confidence <= 1.0
    leased = api(annotator).post(f"/api/projects/{clip_project.id}/queue/next/").json()
    assert leased["prediction"]["origin"] == "zero_shot"
    # Only the first model is zero-shot: with a version, nothing more is written.
    assert not zeroshot_due(project=clip_project)
    assert zeroshot_round_run(project=clip_project) is None
    assert ModelVersion.objects.filter(project=clip_project).count() == 1


@pytest.mark.django_db
def test_a_project_on_another_backbone_gets_none(project):
    item_create(project, 0)

    assert not zeroshot_due(project=project)  # the default backbone, patch-kmeans
    assert zeroshot_round_run(project=project) is None
    assert not ModelVersion.objects.filter(project=project).exists()
