"""Self-supervised pretraining of a project's backbone: asked by leads with a time
budget, run by the worker through the job runner, and then the project's weights."""

from pathlib import Path

import pytest
import torch

from annotator.imports.job import images_import
from annotator.jobs import Outcome
from annotator.models import Membership
from learning import embeddings
from learning.core.backbones import backbone_create
from learning.models import PretrainRun, ProjectBackbone
from learning.pretraining import pretrain_run_execute
from tests.factories import MembershipFactory
from tests.learning.conftest import answer_truthfully
from tests.learning.test_embeddings import photos


def url(project) -> str:
    return f"/api/projects/{project.id}/pretrain/"


@pytest.fixture
def network_backbone(project):
    return ProjectBackbone.objects.create(project=project, name="small-resnet")


@pytest.mark.django_db
def test_a_lead_queues_one_run_at_a_time(project, lead, api, network_backbone):
    response = api(lead).post(url(project), {"time_budget_s": 600}, format="json")

    assert response.status_code == 202, response.json()
    run = PretrainRun.objects.get(pk=response.json()["id"])
    assert (run.state, run.backbone, run.time_budget_s, run.requested_by) == (
        "queued",
        "small-resnet",
        600,
        lead,
    )
    again = api(lead).post(url(project), {"time_budget_s": 60}, format="json")
    assert (again.status_code, again.json()["id"]) == (200, run.pk)
    listed = api(lead).get(url(project)).json()
    assert [row["id"] for row in listed["results"]] == [run.pk]


@pytest.mark.django_db
@pytest.mark.parametrize("budget", [0, 9, 10**9, "soon", None])
def test_a_budget_out_of_range_is_refused_with_a_message(
    project, lead, api, network_backbone, budget
):
    response = api(lead).post(url(project), {"time_budget_s": budget}, format="json")

    assert response.status_code == 400
    assert "time_budget_s" in str(response.json())
    assert not PretrainRun.objects.exists()


@pytest.mark.django_db
def test_a_backbone_fitted_on_the_pool_cannot_be_pretrained(project, lead, api):
    response = api(lead).post(url(project), {"time_budget_s": 60}, format="json")

    assert response.status_code == 400
    assert "patch-kmeans is fitted on the pool" in response.json()["detail"]


@pytest.mark.django_db
def test_missing_starting_weights_are_named(project, lead, api, settings, tmp_path):
    settings.ARBOR_WEIGHTS_DIR = tmp_path
    ProjectBackbone.objects.create(project=project, name="small-resnet", weights="gone.pt")

    response = api(lead).post(url(project), {"time_budget_s": 60}, format="json")

    assert response.status_code == 400
    assert "gone.pt" in response.json()["detail"]


@pytest.mark.django_db(transaction=True)
def test_the_worker_pretrains_on_the_pool_and_switches_the_project_to_the_weights(
    project, settings, tmp_path, monkeypatch
):
    settings.ARBOR_WEIGHTS_DIR = tmp_path / "weights"
    settings.ARBOR_PRETRAIN_BATCH_SIZE = 4
    images_import(project=project, source=photos(tmp_path / "photos", per_class=3))
    ProjectBackbone.objects.create(project=project, name="small-resnet")
    requested = []
    monkeypatch.setattr(embeddings, "embeddings_request", lambda **kw: requested.append(kw))
    run = PretrainRun.objects.create(project=project, time_budget_s=8, backbone="small-resnet")

    assert pretrain_run_execute(run_id=run.pk) == Outcome.DONE

    run.refresh_from_db()
    assert run.state == PretrainRun.State.SUCCEEDED
    assert run.stats["stop_reason"] == "time_budget" and run.stats["steps"] >= 1
    assert run.stats["device"] == "cpu"
    weights = Path(settings.ARBOR_WEIGHTS_DIR) / run.weights
    assert weights.suffix == ".safetensors" and weights.is_file()
    # The project now uses them, and their embeddings were asked for.
    choice = ProjectBackbone.objects.get(project=project)
    assert (choice.name, choice.weights) == ("small-resnet", run.weights)
    assert requested == [{"project_id": project.pk}]
    # The registry loads the file as any local weights file, and it holds trained weights.
    trained = backbone_create("small-resnet", weights=weights)
    untrained = backbone_create("small-resnet", pretrained=False)
    assert trained.weights == str(weights)
    assert any(
        not torch.equal(a, b)
        for a, b in zip(trained.state_dict().values(), untrained.state_dict().values(), strict=True)
    )
    # A redelivered message finds the run done.
    assert pretrain_run_execute(run_id=run.pk) == Outcome.SKIPPED


@pytest.mark.django_db
def test_a_fine_tune_needs_enough_human_labels(easy_project, api):
    ProjectBackbone.objects.create(project=easy_project, name="small-resnet")
    lead = MembershipFactory(project=easy_project, role=Membership.Role.LEAD).user
    answer_truthfully(easy_project, lead, 19)
    body = {"time_budget_s": 60, "method": "finetune"}

    response = api(lead).post(url(easy_project), body, format="json")

    assert response.status_code == 400
    assert response.json()["detail"] == (
        "Fine-tuning needs at least 20 human labels on the current taxonomy; this project "
        "has 19. Label more, or pretrain with SimCLR, which needs none."
    )
    unknown = api(lead).post(url(easy_project), {**body, "method": "byol"}, format="json")
    assert unknown.status_code == 400 and '"byol" is not a valid choice' in str(unknown.json())
    answer_truthfully(easy_project, lead, 1)
    response = api(lead).post(url(easy_project), body, format="json")
    assert (response.status_code, response.json()["method"]) == (202, "finetune")
    assert PretrainRun.objects.get().method == "finetune"


@pytest.mark.django_db(transaction=True)
def test_the_worker_fine_tunes_on_the_human_labels_and_switches_the_weights(
    easy_project, settings, tmp_path, monkeypatch
):
    settings.ARBOR_WEIGHTS_DIR = tmp_path / "weights"
    ProjectBackbone.objects.create(project=easy_project, name="small-resnet")
    annotator = MembershipFactory(project=easy_project, role=Membership.Role.ANNOTATOR).user
    answer_truthfully(easy_project, annotator, 24)
    requested = []
    monkeypatch.setattr(embeddings, "embeddings_request", lambda **kw: requested.append(kw))
    run = PretrainRun.objects.create(
        project=easy_project, time_budget_s=20, backbone="small-resnet", method="finetune"
    )

    assert pretrain_run_execute(run_id=run.pk) == Outcome.DONE

    run.refresh_from_db()
    assert run.state == PretrainRun.State.SUCCEEDED, run.error
    assert (run.stats["method"], run.stats["device"]) == ("finetune", "cpu")
    # 24 labelled images: one batch of 24 a step, 30 epochs at most, within 20 s.
    assert run.stats["images_seen"] == 24 * run.stats["steps"] > 0
    assert run.stats["loss_last"] < run.stats["loss_first"]
    choice = ProjectBackbone.objects.get(project=easy_project)
    assert (choice.name, choice.weights) == ("small-resnet", run.weights)
    assert requested == [{"project_id": easy_project.pk}]
    # The registry loads the file, and it holds weights the labels changed.
    trained = backbone_create(
        "small-resnet", weights=Path(settings.ARBOR_WEIGHTS_DIR) / run.weights
    )
    untrained = backbone_create("small-resnet", pretrained=False)
    assert any(
        not torch.equal(a, b)
        for a, b in zip(trained.state_dict().values(), untrained.state_dict().values(), strict=True)
    )
