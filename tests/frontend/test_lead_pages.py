"""Grid verification and the lead's pages in real Chromium."""

import csv
import io
import re

import pytest
from playwright.sync_api import expect

from annotator.models import Annotation, Assignment, Item, Membership, Prediction
from tests.factories import ModelVersionFactory
from tests.frontend.conftest import login, member, predict
from tests.helpers import answer

pytestmark = pytest.mark.browser


def test_grid_accept_with_two_items_marked_wrong(page, cifar):
    project = cifar(14)
    items = list(project.items.order_by("id"))
    predict(project, items, leaf="animal/cat", mode="verify", confidence=0.96)
    annotator = member(project)
    login(page, annotator)
    page.goto(f"/projects/{project.pk}/grid/")

    expect(page.locator("#grid-node")).to_have_text("animal/cat")
    tiles = page.locator("#tiles .tile")
    expect(tiles).to_have_count(14)
    page.keyboard.press("2")  # by key
    tiles.nth(4).locator("button").click()  # by click
    expect(page.locator("#marked")).to_have_text("2 marked wrong")
    wrong = [tiles.nth(i).locator("img").get_attribute("alt") for i in (1, 4)]
    page.keyboard.press("Enter")

    expect(page.locator("#message")).to_contain_text("12 accepted, 2 sent back")
    expect(page.locator("#grid-node")).to_have_text("nothing to verify")
    confirmed = Annotation.objects.filter(annotator=annotator)
    assert confirmed.count() == 12
    assert set(confirmed.values_list("source", flat=True)) == {"confirmed"}
    rejected = [int(alt.split()[1]) for alt in wrong]
    assert not Annotation.objects.filter(item_id__in=rejected).exists()
    assert all(Prediction.objects.get(item_id=item).question == "full" for item in rejected), (
        "wrong ones are asked again in full"
    )
    unlabeled = project.items.filter(state=Item.State.UNLABELED)
    assert set(unlabeled.values_list("id", flat=True)) == set(rejected)
    assert not Assignment.objects.filter(project=project, state="active").exists()


def test_a_lead_starts_an_export_and_downloads_it(page, cifar):
    project = cifar(5)
    annotator = member(project)
    for _ in range(3):
        answer(project=project, user=annotator, node="vehicle/ship")
    lead = member(project, Membership.Role.LEAD)
    login(page, lead)
    page.goto(f"/projects/{project.pk}/export/")

    page.get_by_label("Format").select_option("csv")
    page.get_by_role("button", name="Start export").click()
    expect(page.locator("#progress-text")).to_contain_text("succeeded")
    link = page.get_by_role("link", name="Download csv")
    with page.expect_download() as download_info:
        link.click()
    download = download_info.value

    rows = list(csv.DictReader(io.StringIO(download.path().read_text())))
    assert len(rows) == 3
    assert {row["label"] for row in rows} == {"vehicle/ship"}
    assert download.suggested_filename.endswith(".csv")
    expect(page.locator("#exports tr")).to_have_count(1)


def test_a_lead_changes_settings_but_not_the_budget(page, cifar):
    project = cifar(1)
    lead = member(project, Membership.Role.LEAD)
    login(page, lead)
    page.goto(f"/projects/{project.pk}/settings/")

    expect(page.get_by_label("Batch size")).to_have_value(str(project.batch_size))
    expect(page.get_by_label("Max human answers")).to_be_disabled()
    expect(page.locator("#strategy-help")).to_have_text(
        "the items whose top two classes are closest"
    )
    expect(page.locator("#auto-accept-in-use")).to_have_text("No model has been trained yet.")
    page.get_by_label("Batch size").fill("40")
    page.get_by_label("Auto-accept confident predictions").check()
    page.get_by_label("Strategy").select_option("entropy")
    expect(page.locator("#strategy-help")).to_have_text("the most spread-out predictions")
    page.get_by_label("Answers per item").select_option("2")
    page.get_by_role("button", name="Save", exact=True).click()

    expect(page.locator("#message")).to_have_text(
        "Saved: strategy, batch_size, annotations_per_item, auto_accept_enabled."
    )
    project.refresh_from_db()
    assert (project.batch_size, project.auto_accept_enabled) == (40, True)
    assert (project.strategy, project.annotations_per_item) == ("entropy", 2)


def test_settings_show_the_auto_accept_threshold_in_use(page, cifar):
    project = cifar(1, auto_accept_enabled=True)
    cascade = {
        "audited": 320,
        "correct": 318,
        "accepted": 412,
        "threshold": 0.9731,
        "precision_lower_bound": 0.9912,
        "audited_above": 301,
    }
    ModelVersionFactory(project=project, metrics={"cascade": cascade})
    login(page, member(project, Membership.Role.LEAD))
    page.goto(f"/projects/{project.pk}/settings/")

    expect(page.locator("#auto-accept-in-use")).to_have_text(
        "In use (model v1): confidence ≥ 0.973, where the audit measured precision ≥ 99.1% "
        "(95% lower bound, 301 audited items above it); 412 labels auto-accepted."
    )
    expect(page.get_by_label("Target precision")).to_have_value("0.99")
    expect(page.locator("#target-help")).to_contain_text("1 wrong label in 100")


def test_a_lead_chooses_a_backbone_and_missing_weights_are_named(
    page, cifar, monkeypatch, tmp_path
):
    import torch

    from learning.models import ProjectBackbone

    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path / "hub"))  # empty caches
    monkeypatch.setattr("huggingface_hub.constants.HF_HUB_CACHE", str(tmp_path / "hf"))
    project = cifar(1)
    login(page, member(project, Membership.Role.LEAD))
    page.goto(f"/projects/{project.pk}/settings/")

    expect(page.locator("#backbone-progress")).to_contain_text("images embedded with patch-kmeans")
    expect(page.locator("#backbone-name option[value=resnet18]")).to_contain_text(
        "ImageNet ResNet-18"
    )
    page.locator("#backbone-name").select_option("resnet18")
    page.get_by_role("button", name="Save backbone").click()

    expect(page.locator("#backbone-message")).to_contain_text("resnet18-f37072fd.pth")
    assert not ProjectBackbone.objects.filter(project=project).exists()

    # An installed package of models is one choice; its model is typed by name.
    expect(page.locator("#backbone-model")).to_be_hidden()
    page.locator("#backbone-name").select_option("timm:")
    page.get_by_label("Model name").fill("resnet18")
    page.get_by_role("button", name="Save backbone").click()
    expect(page.locator("#backbone-message")).to_contain_text(
        "timm:resnet18 needs its pretrained weights: model.safetensors of timm/resnet18.a1_in1k "
        f"in the Hugging Face cache ({tmp_path / 'hf'})"
    )
    ProjectBackbone.objects.create(project=project, name="open_clip:ViT-B-32", weights="clip.pt")
    page.reload()
    expect(page.locator("#backbone-name")).to_have_value("open_clip:")
    expect(page.get_by_label("Model name")).to_have_value("ViT-B-32")
    expect(page.locator("#backbone-form input[name=weights]")).to_have_value("clip.pt")


def test_a_fitted_backbone_is_refused_and_a_network_one_pretrained(page, cifar):
    from learning.models import PretrainRun, ProjectBackbone

    project = cifar(3)  # tiny: eager Celery runs the pretraining inside the request
    login(page, member(project, Membership.Role.LEAD))
    page.goto(f"/projects/{project.pk}/settings/")

    page.get_by_role("button", name="Start training").click()  # on patch-kmeans
    expect(page.locator("#pretrain-message")).to_have_text(
        "patch-kmeans is fitted on the pool, not trained: choose a network backbone "
        "(small-resnet, resnet18, ...) to pretrain."
    )
    expect(page.locator("#pretrain-runs")).to_have_text("No training yet.")

    ProjectBackbone.objects.create(project=project, name="small-resnet")
    page.reload()
    page.get_by_label("Method").select_option("finetune")  # nothing is labelled yet
    page.get_by_role("button", name="Start training").click()
    expect(page.locator("#pretrain-message")).to_contain_text(
        "Fine-tuning needs at least 20 human labels on the current taxonomy; this project has 0."
    )
    page.get_by_label("Method").select_option("simclr")
    page.get_by_label("Time budget").select_option("10")  # the API's minimum
    with page.expect_response(
        lambda response: response.url.endswith("/pretrain/") and response.request.method == "POST",
        timeout=60_000,
    ):
        page.get_by_role("button", name="Start training").click()

    run = PretrainRun.objects.get(project=project)
    expect(page.locator("#pretrain-message")).to_have_text(f"SimCLR #{run.pk} queued for 10 s.")
    cells = page.locator("#pretrain-runs tr td")
    if run.state == PretrainRun.State.SUCCEEDED:  # eager: it ran before the answer
        result = re.compile(rf"^{run.stats['steps']} steps on cpu in \d+ s, loss [\d.]+ → [\d.]+")
        expect(cells).to_have_text(
            [str(run.pk), "SimCLR", "small-resnet", "succeeded", "10 s", re.compile(r"\d"), result]
        )
        # The page shows the weights the project switched to, not the ones it loaded.
        expect(page.locator("#backbone-form input[name=weights]")).to_have_value(run.weights)
    else:  # a real worker: listed while it waits or runs; no second start meanwhile
        expect(cells.nth(3)).to_have_text(re.compile("queued|running|succeeded"))
        expect(page.get_by_role("button", name="Start training")).to_be_disabled()
