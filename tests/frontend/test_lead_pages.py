"""Grid verification and the lead's pages in real Chromium."""

import csv
import io

import pytest
from playwright.sync_api import expect

from annotator.models import Annotation, Assignment, Item, Membership, Prediction
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
    page.get_by_label("Batch size").fill("40")
    page.get_by_label("Auto-accept confident predictions").check()
    page.get_by_role("button", name="Save").click()

    expect(page.locator("#message")).to_have_text("Saved: batch_size, auto_accept_enabled.")
    project.refresh_from_db()
    assert (project.batch_size, project.auto_accept_enabled) == (40, True)
    page.get_by_label("Strategy").fill("guesswork")
    page.get_by_role("button", name="Save").click()
    expect(page.locator("#message")).to_contain_text("Unknown strategy")
