"""A project's backbone and its embeddings: chosen by leads, computed as images arrive,
kept per item, resumed after a crash, recorded on each model version."""

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
import torchvision
from django.core.management import call_command
from safetensors.torch import save_file

from annotator.imports.job import images_import
from annotator.models import Item, Membership, ModelVersion
from learning import embeddings, services
from learning.models import ProjectBackbone
from tests.factories import MembershipFactory, ProjectFactory
from tests.learning.conftest import answer_truthfully

HYMENOPTERA = Path("/work/shared/datasets/hymenoptera/images")
TAXONOMY = {"name": "insects", "levels": ["order", "kind"], "tree": {"insect": ["ants", "bees"]}}


@pytest.fixture
def empty_hub(monkeypatch, tmp_path):
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path / "hub"))


@pytest.fixture
def weights_dir(settings, tmp_path):
    settings.ARBOR_WEIGHTS_DIR = tmp_path / "weights"
    settings.ARBOR_WEIGHTS_DIR.mkdir()
    return settings.ARBOR_WEIGHTS_DIR


def photos(folder: Path, per_class: int = 4) -> Path:
    """A few real photos of varied sizes per class (ImageFolder layout)."""
    for kind in ("ants", "bees"):
        (folder / kind).mkdir(parents=True)
        for path in sorted((HYMENOPTERA / kind).glob("*.jpg"))[:per_class]:
            shutil.copy(path, folder / kind / path.name)
    return folder


def url(project) -> str:
    return f"/api/projects/{project.id}/backbone/"


@pytest.mark.django_db
def test_leads_see_the_default_backbone_and_its_choices(project, lead, annotator, api, settings):
    body = api(lead).get(url(project) + "?choices=1").json()
    assert body["name"] == settings.ARBOR_DEFAULT_BACKBONE == "patch-kmeans"
    assert body["embedded"] == 0 and body["weights"] == ""
    names = [choice["name"] for choice in body["choices"]]
    assert {"patch-kmeans", "small-resnet", "resnet18", "vit_b_16"} <= set(names)
    assert all(choice["summary"] for choice in body["choices"])
    assert api(annotator).get(url(project)).status_code == 404


@pytest.mark.django_db
def test_missing_weights_are_a_400_naming_the_file_and_change_nothing(
    project, lead, api, empty_hub, weights_dir
):
    response = api(lead).put(url(project), {"name": "resnet18"}, format="json")
    assert response.status_code == 400
    assert "resnet18-f37072fd.pth" in response.json()["detail"]
    assert str(weights_dir) in response.json()["detail"]
    for body, expected in (
        ({"name": "small-resnet", "weights": "absent.safetensors"}, "absent.safetensors"),
        ({"name": "small-resnet", "weights": "../../etc/passwd"}, "file name"),
        ({"name": "resnet1000"}, "unknown backbone"),
    ):
        response = api(lead).put(url(project), body, format="json")
        assert response.status_code == 400 and expected in response.json()["detail"]
    assert not ProjectBackbone.objects.exists()


@pytest.mark.django_db
def test_a_lead_chooses_a_backbone_with_a_weights_file(
    project, lead, api, weights_dir, django_capture_on_commit_callbacks, monkeypatch
):
    queued = []
    monkeypatch.setattr(embeddings, "embeddings_request", lambda **kw: queued.append(kw))
    save_file(torchvision.models.resnet18(weights=None).state_dict(), str(weights_dir / "r.st"))
    with django_capture_on_commit_callbacks(execute=True):
        response = api(lead).put(
            url(project), {"name": "resnet18", "weights": "r.st"}, format="json"
        )
    assert response.status_code == 200, response.json()
    assert response.json()["name"] == "resnet18"
    row = ProjectBackbone.objects.get(project=project)
    assert (row.name, row.weights, row.updated_by) == ("resnet18", "r.st", lead)
    assert queued == [{"project_id": project.id}]  # its embeddings go to the worker


@pytest.mark.django_db(transaction=True)
def test_an_import_embeds_its_images_and_a_crash_resumes_where_it_stopped(
    tmp_path, monkeypatch, weights_dir, settings
):
    project = ProjectFactory()
    ProjectBackbone.objects.create(project=project, name="small-resnet")
    settings.ARBOR_EMBED_CHUNK = 3
    calls = []
    real = embeddings.embeddings_compute

    def crash_after_two_chunks(*, project):
        from learning.core.backbones import Backbone

        embed = Backbone.embed_files

        def counted(self, paths, **options):
            calls.append(len(paths))
            if len(calls) == 3:
                raise RuntimeError("the worker dies")
            return embed(self, paths, **options)

        monkeypatch.setattr(Backbone, "embed_files", counted)
        with pytest.raises(RuntimeError):
            real(project=project)
        monkeypatch.setattr(Backbone, "embed_files", embed)

    monkeypatch.setattr(embeddings, "embeddings_compute", crash_after_two_chunks)
    # The import announces its images; the (eager) task embeds them, and dies mid-way.
    images_import(project=project, source=photos(tmp_path / "photos"), with_labels=False)
    assert calls == [3, 3, 2]
    assert embeddings.embeddings_progress(project=project)["embedded"] == 6

    assert real(project=project) == 2  # only the two it had not stored
    progress = embeddings.embeddings_progress(project=project)
    assert progress == {"name": "small-resnet", "weights": "", "embedded": 8, "total": 8}
    item_ids = np.array(Item.objects.filter(project=project).values_list("pk", flat=True))
    kept, backbone = embeddings.pool_embeddings(project=project, item_ids=item_ids)
    assert kept.shape == (8, backbone.embedding_dim) and np.isfinite(kept).all()


@pytest.mark.django_db
def test_a_round_records_its_backbone_on_the_model_version(
    easy_project, django_capture_on_commit_callbacks
):
    user = MembershipFactory(project=easy_project, role=Membership.Role.ANNOTATOR).user
    answer_truthfully(easy_project, user, 40)
    with django_capture_on_commit_callbacks(execute=True):
        run, _ = services.training_run_request(project=easy_project, trigger="manual")
    version = ModelVersion.objects.get(training_run=run)
    assert (version.backbone, version.backbone_weights) == ("patch-kmeans", "fitted on the pool")
    lead = MembershipFactory(project=easy_project, role=Membership.Role.LEAD).user
    from tests.conftest import client_for

    curve = client_for(lead).get(f"/api/projects/{easy_project.id}/learning-curve/").json()
    assert curve["results"][0]["backbone"] == "patch-kmeans"
    progress = embeddings.embeddings_progress(project=easy_project)
    assert progress["embedded"] == progress["total"] == 400


@pytest.mark.django_db(transaction=True)
def test_simulate_takes_a_backbone_and_a_safetensors_resnet18(tmp_path, capsys, settings):
    settings.ARBOR_AUTO_RETRAIN = True
    weights = tmp_path / "resnet18.safetensors"
    save_file(torchvision.models.resnet18(weights=None).state_dict(), str(weights))
    (tmp_path / "taxonomy.json").write_text(json.dumps(TAXONOMY))
    call_command(
        "simulate",
        images=photos(tmp_path / "photos"),
        taxonomy=tmp_path / "taxonomy.json",
        backbone="resnet18",
        weights=weights,
        budget=8,
        batch=2,
        retrain_every=4,
        shadow_size=2,
        audit_size=2,
        out=tmp_path / "report.json",
    )
    report = json.loads((tmp_path / "report.json").read_text())
    assert report["final"]["labeled"] == 8
    assert report["settings"]["backbone"] == "resnet18"
    version = ModelVersion.objects.get(project=report["project"], version=1)
    assert (version.backbone, version.backbone_weights) == ("resnet18", str(weights.resolve()))
