"""The taxonomy editor, the labeling guide and the image box's zoom, in real Chromium."""

import shutil
from pathlib import Path

import pytest
from playwright.sync_api import expect

from annotator.imports.job import images_import
from annotator.models import Annotation, Item, Membership
from annotator.taxonomy.creation import taxonomy_create
from learning.models import GuideDefinition, GuideExample
from tests.factories import ProjectFactory
from tests.frontend.conftest import login, member, predict
from tests.helpers import answer
from tests.learning.conftest import DEMO_TAXONOMY

pytestmark = pytest.mark.browser

LARGE_PHOTO = Path(
    "/work/shared/datasets/hymenoptera/images/ants/"
    "ants-devouring-remains-of-large-dead-insect-on-red-tile-in-Stellenbosch-South-Africa-closeup-1-DHD.jpg"
)


def test_a_lead_splits_a_class_sees_the_preview_and_saves_a_version(page, cifar):
    project = cifar(8)
    annotator = member(project)
    for _ in range(2):
        answer(project=project, user=annotator, node="animal/cat")
    lead = member(project, Membership.Role.LEAD)
    login(page, lead)
    page.goto(f"/projects/{project.pk}/taxonomy/")

    cat_row = page.locator('#tree tr[data-path="animal/cat"]')
    expect(cat_row.locator("td").nth(1)).to_have_text("2")
    expect(page.locator('#tree tr[data-path="animal"] td').nth(1)).to_have_text("2")
    page.locator("#op").select_option("split")
    page.locator('#op-fields select[name="path"]').select_option("animal/cat")
    page.get_by_label("New classes").fill("tabby, siamese")
    page.get_by_role("button", name="Add to the changes").click()

    expect(page.locator("#remapped")).to_contain_text("animal/cat → animal: split")
    expect(page.locator("#remapped")).to_contain_text("animal/tabby: new")
    expect(page.locator("#requeued")).to_contain_text("2 items go back to the queue")
    assert project.taxonomies.count() == 1, "a preview saves nothing"
    page.get_by_role("button", name="Save as a new version").click()

    expect(page.locator("#message")).to_contain_text("Saved version 2")
    expect(page.locator("#version")).to_have_text("v2")
    expect(page.locator("#history tr").first).to_contain_text(
        "split animal/cat into tabby, siamese"
    )
    expect(page.locator('#tree tr[data-path="animal/siamese"]')).to_be_visible()
    assert project.taxonomies.count() == 2
    assert project.items.filter(state=Item.State.UNLABELED).count() == 8


def test_an_annotator_labels_ten_items_with_the_guide_open(page, cifar):
    project = cifar(12)
    predict(project, project.items.all(), leaf="animal/cat", mode="verify", confidence=0.95)
    taxonomy = project.taxonomies.get()
    cat = taxonomy.nodes.get(path="animal/cat")
    GuideDefinition.objects.create(project=project, node=cat, text="Pointed ears, whiskers.")
    for rank, item in enumerate(project.items.all()[:3]):
        GuideExample.objects.create(project=project, node=cat, item=item, kind="typical", rank=rank)
    annotator = member(project)
    login(page, annotator)
    page.goto(f"/projects/{project.pk}/label/")
    page.wait_for_selector("#image-box img")

    page.keyboard.press("g")
    drawer = page.locator("#guide-drawer")
    expect(drawer).to_be_visible()
    expect(drawer.locator(".guide-entry")).to_have_count(2)  # vehicle and animal
    page.keyboard.press("2")  # animal: its classes are offered, and shown in the guide
    entry = drawer.locator('.guide-entry[data-path="animal/cat"]')
    expect(entry).to_contain_text("Pointed ears, whiskers.")
    expect(entry.locator(".examples img")).to_have_count(3)
    expect(page.locator("#choices")).to_contain_text("Pointed ears, whiskers.")
    page.keyboard.press("Backspace")
    for answered in range(1, 11):
        page.keyboard.press("Enter")
        page.wait_for_function(f"() => window.arbor.latencies.length >= {answered}")
    expect(drawer).to_be_visible()

    expect(page.locator("#unsaved")).to_have_text("All answers saved")
    expect(page.locator("#today")).to_have_text("10 answered today")
    expect(page.locator("#left")).to_have_text("2 left in the project")
    assert Annotation.objects.filter(annotator=annotator, node=cat).count() == 10
    page.keyboard.press("?")
    expect(drawer).to_be_hidden()


def test_a_large_photo_is_shown_whole_and_z_toggles_one_to_one(page, tmp_path):
    project = ProjectFactory()
    taxonomy_create(project=project, data=DEMO_TAXONOMY)
    shutil.copy(LARGE_PHOTO, tmp_path / "ants.jpg")
    images_import(project=project, source=tmp_path, with_labels=False)
    annotator = member(project)
    login(page, annotator)
    page.goto(f"/projects/{project.pk}/label/")
    image = page.locator("#image-box img")
    page.wait_for_function("() => document.querySelector('#image-box img')?.complete")
    box = page.locator("#image-box").bounding_box()
    expect(page.locator("#zoom")).to_have_text("whole")
    assert image.bounding_box() == box, "shown whole, inside the box"

    page.keyboard.press("z")
    expect(page.locator("#zoom")).to_have_text("100%")
    assert "scale(" in image.evaluate("image => image.style.transform")
    assert page.locator("#image-box").bounding_box() == box, "nothing moves around it"
    # Dragging pans; the wheel zooms around the pointer.
    before = image.bounding_box()
    page.mouse.move(box["x"] + 300, box["y"] + 300)
    page.mouse.down()
    page.mouse.move(box["x"] + 200, box["y"] + 250)
    page.mouse.up()
    moved = image.bounding_box()
    assert (moved["x"], moved["y"]) == (before["x"] - 100, before["y"] - 50)
    page.mouse.wheel(0, 400)
    expect(page.locator("#zoom")).not_to_have_text("100%")

    page.keyboard.press("z")
    expect(page.locator("#zoom")).to_have_text("whole")
    assert image.bounding_box() == box
