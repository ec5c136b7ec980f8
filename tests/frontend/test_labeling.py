"""The labeling screen in real Chromium: keyboard only, verification modes, network drops."""

import pytest
from playwright.sync_api import expect

from annotator.models import Annotation, Item, ModelVersion
from tests.factories import PASSWORD
from tests.frontend.conftest import login, member, predict

pytestmark = pytest.mark.browser


def current_item(page) -> str:
    """The alt text ("Item 7") of the image on screen, once there is one."""
    image = page.locator("#image-box img")
    expect(image).to_be_visible()
    return image.get_attribute("alt")


def answer_with_keys(page, keys: list[str]) -> str:
    """Press ``keys`` on the image on screen; wait for the next one. The item answered."""
    shown = current_item(page)
    for key in keys:
        page.keyboard.press(key)
    expect(page.locator("#image-box")).not_to_have_text(shown)  # nothing left, or
    expect(page.locator(f'#image-box img[alt="{shown}"]')).to_have_count(0)  # another image
    return shown


def test_an_annotator_labels_ten_items_by_keyboard_only(page, cifar):
    project = cifar(12)
    annotator = member(project)
    login(page, annotator)
    page.goto(f"/projects/{project.pk}/label/")
    expect(page.locator("#shortcuts")).to_contain_text("coarse only")

    # vehicle = 1: airplane 1, automobile 2, ship 3, truck 4;
    # animal = 2: bird 1, cat 2, deer 3, dog 4, frog 5, horse 6.
    plan = [
        (["1", "1"], "vehicle/airplane"),
        (["1", "4"], "vehicle/truck"),
        (["2", "2"], "animal/cat"),
        (["2", "6"], "animal/horse"),
        (["2", "c"], "animal"),  # coarse only
        (["1", "Backspace", "2", "4"], "animal/dog"),  # changed their mind
        (["1", "3"], "vehicle/ship"),
        (["2", "1"], "animal/bird"),
        (["2", "5"], "animal/frog"),
        (["1", "2"], "vehicle/automobile"),
    ]
    answered = {}
    for keys, path in plan:
        answered[answer_with_keys(page, keys)] = path

    expect(page.locator("#saved")).to_have_text("10 saved")
    expect(page.locator("#unsaved")).to_have_text("All answers saved")
    stored = {f"Item {a.item_id}": a for a in Annotation.objects.filter(annotator=annotator)}
    assert {alt: a.node.path for alt, a in stored.items()} == answered
    assert all(a.source == "manual" and a.duration_ms is not None for a in stored.values())
    assert Item.objects.filter(project=project, state="labeled").count() == 10


def test_skip_and_undo(page, cifar):
    project = cifar(4)
    annotator = member(project)
    login(page, annotator)
    page.goto(f"/projects/{project.pk}/label/")

    skipped = answer_with_keys(page, ["s"])
    first = answer_with_keys(page, ["2", "2"])
    expect(page.locator("#saved")).to_have_text("1 saved")
    page.keyboard.press("u")
    expect(page.locator(f'#image-box img[alt="{first}"]')).to_be_visible()
    expect(page.locator("#saved")).to_have_text("0 saved")
    answer_with_keys(page, ["2", "4"])
    expect(page.locator("#saved")).to_have_text("1 saved")

    (annotation,) = Annotation.objects.filter(annotator=annotator)
    assert (f"Item {annotation.item_id}", annotation.node.path) == (first, "animal/dog")
    assert not Annotation.objects.filter(item_id=int(skipped.split()[1])).exists()


def test_fine_only_verification_and_verify(page, cifar):
    project = cifar(2)
    first, second = project.items.order_by("id")
    first.priority, second.priority = 2, 1
    first.save(), second.save()
    predict(project, [first], leaf="animal/dog", mode="fine", confidence=0.55, settled_depth=1)
    predict(project, [second], leaf="vehicle/ship", mode="verify", confidence=0.97)
    annotator = member(project)
    login(page, annotator)
    page.goto(f"/projects/{project.pk}/label/")

    expect(page.locator("#mode")).to_have_text("fine only")
    expect(page.locator("#picked .crumb.settled")).to_have_text("animal")
    # Only animal's children are offered, with dog as the model's guess at 55%.
    expect(page.locator("#choices button")).to_have_text(
        ["1 bird", "2 cat", "3 deer", "4 dog", "5 frog", "6 horse"]
    )
    expect(page.locator("#prediction")).to_contain_text("55%")
    answer_with_keys(page, ["5"])

    expect(page.locator("#mode")).to_have_text("verify")
    answer_with_keys(page, ["Enter"])
    expect(page.locator("#saved")).to_have_text("2 saved")

    fine = Annotation.objects.get(item=first)
    verified = Annotation.objects.get(item=second)
    assert (fine.node.path, fine.source) == ("animal/frog", "corrected")
    assert (verified.node.path, verified.source) == ("vehicle/ship", "confirmed")


def test_a_zero_shot_guess_says_so(page, cifar):
    project = cifar(1)
    (prediction,) = predict(project, project.items.all(), leaf="animal/dog", mode="verify")
    prediction.model_version.source = ModelVersion.Source.ZERO_SHOT
    prediction.model_version.save(update_fields=["source"])
    login(page, member(project))
    page.goto(f"/projects/{project.pk}/label/")

    expect(page.locator("#prediction")).to_contain_text("Zero-shot guess from the class names")


def test_a_dropped_answer_is_retried_without_a_duplicate(page, cifar):
    project = cifar(3)
    annotator = member(project)
    login(page, annotator)
    attempts = []

    def flaky(route):
        if route.request.method != "POST":
            route.continue_()
            return
        attempts.append(route.request.post_data_json["idempotency_key"])
        if len(attempts) == 1:
            # The server stores the answer, but its response never arrives.
            route.fetch()
            route.abort("connectionreset")
        elif len(attempts) == 2:
            route.abort("internetdisconnected")  # still offline: never reaches the server
        else:
            route.continue_()

    page.route("**/api/items/*/annotations/", flaky)
    page.goto(f"/projects/{project.pk}/label/")
    answered = answer_with_keys(page, ["1", "4"])

    expect(page.locator("#unsaved")).to_contain_text("1 unsaved")
    expect(page.locator("#unsaved")).to_have_text("All answers saved", timeout=15_000)
    expect(page.locator("#saved")).to_have_text("1 saved")
    assert len(attempts) == 3 and len(set(attempts)) == 1, attempts
    (annotation,) = Annotation.objects.filter(annotator=annotator)
    assert f"Item {annotation.item_id}" == answered
    assert annotation.idempotency_key == attempts[0]


def test_an_answer_given_after_a_logout_elsewhere_waits_for_the_next_login(page, cifar):
    project = cifar(3)
    annotator = member(project)
    login(page, annotator)
    page.goto(f"/projects/{project.pk}/label/")
    current_item(page)
    # Another tab of the same browser logs out: this page's session is gone.
    other = page.context.new_page()
    other.goto("/")
    other.get_by_role("button", name="Log out").click()
    other.wait_for_url("**/login/")
    other.close()

    answered = answer_with_keys(page, ["1", "4"])

    expect(page.locator("#unsaved")).to_have_text("1 unsaved – waiting for you to log in")
    expect(page.locator("#message")).to_contain_text("You are logged out")
    assert not Annotation.objects.exists()
    page.get_by_role("link", name="Log in again").click()
    page.get_by_label("Username").fill(annotator.username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(f"**/projects/{project.pk}/label/")
    # The page, back, sends what waited in this browser.
    expect(page.locator("#saved")).to_have_text("1 saved")
    expect(page.locator("#unsaved")).to_have_text("All answers saved")
    (annotation,) = Annotation.objects.filter(annotator=annotator)
    assert (f"Item {annotation.item_id}", annotation.node.path) == (answered, "vehicle/truck")
