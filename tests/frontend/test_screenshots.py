"""A screenshot of every page, at 1280x800.

``ARBOR_SCREENSHOTS=1`` writes them to docs/screenshots/, to refresh the documentation;
without it they go to a temporary folder and the test checks the pages all the same.
"""

from pathlib import Path

import numpy as np
import pytest
from playwright.sync_api import expect

from annotator.models import Item, Membership, ModelVersion
from learning.guide import guide_examples_refresh
from learning.labels import ProjectTaxonomy
from learning.models import GuideDefinition, LabelIssue
from tests.factories import ModelVersionFactory
from tests.frontend.conftest import close_quietly, login, member, predict
from tests.helpers import answer

pytestmark = pytest.mark.browser

# (human labels, coarse, fine) on the shadow sample, and a little higher on the gold set.
DEFINITIONS = {
    "animal/cat": "Domestic cats of any colour; big cats too. Rounded face, short muzzle.",
    "animal/dog": "Dogs and puppies; the muzzle is longer than a cat's.",
    "vehicle/automobile": "Cars, vans and pickups; not trucks with a separate cab.",
    "vehicle/truck": "Lorries and big rigs: a cab with a load behind it.",
}
CURVE = [(20, 0.71, 0.38), (40, 0.78, 0.47), (60, 0.82, 0.55), (80, 0.85, 0.6), (100, 0.86, 0.63)]


def confusion(leaves: list[str], accuracy: float, n: int) -> list[list[int]]:
    """Rows true, columns predicted: ``accuracy`` on the diagonal, the rest on neighbours."""
    size = len(leaves)
    per_class = n // size
    matrix = []
    for row in range(size):
        right = round(per_class * (accuracy + 0.25 * ((row % 3) - 1) * (1 - accuracy)))
        counts = [0] * size
        counts[row] = right
        counts[(row + 1) % size] += (per_class - right + 1) // 2
        counts[(row + 3) % size] += (per_class - right) // 2
        matrix.append(counts)
    return matrix


def campaign(cifar):
    """A project part way through a campaign: curve, answers, overlap, issues, budget."""
    project = cifar(120, max_human_annotations=300, annotations_per_item=2)
    ana, ben = member(project, username="ana"), member(project, username="ben")
    lead = member(project, Membership.Role.LEAD, username="lena")
    taxonomy = project.taxonomies.get()
    leaves = list(taxonomy.nodes.filter(is_leaf=True).order_by("parent__position", "position"))
    leaves = [node.path for node in leaves]
    for version, (labels, coarse, fine) in enumerate(CURVE, start=1):
        ModelVersionFactory(
            project=project,
            taxonomy=taxonomy,
            version=version,
            human_labels=labels,
            metrics={
                "shadow": {"n": 20, "accuracy": {"coarse": coarse, "fine": fine}},
                "gold": {
                    "n": 100,
                    "accuracy": {"coarse": coarse + 0.03, "fine": fine + 0.04},
                    "leaves": leaves,
                    "confusion": confusion(leaves, fine + 0.04, 100),
                },
            },
        )
    items = list(project.items.select_related("ground_truth").order_by("id"))
    # Twenty shadow items answered by both (mostly agreeing).
    shadow = items[::6][:20]
    Item.objects.filter(pk__in=[item.pk for item in shadow]).update(
        sample=Item.Sample.SHADOW, priority=20
    )
    for number, item in enumerate(shadow):
        truth = item.ground_truth.path
        guess = truth if number % 3 else items[(number * 7) % 120].ground_truth.path
        predict(
            project, [item], leaf=guess, mode="full", confidence=0.6, coarse=0.7, version=len(CURVE)
        )
        given = answer(project=project, user=ana, node=truth, duration_ms=2100 + 90 * number)
        assert given.item == item
        sibling = item.ground_truth.parent.children.exclude(pk=item.ground_truth_id).first()
        other = truth if number % 5 else sibling.path
        given = answer(project=project, user=ben, node=other, duration_ms=3200 + 70 * number)
        assert given.item == item
    issue_on = shadow[5].annotations.get(annotator=ben)
    LabelIssue.objects.create(
        project=project,
        annotation=issue_on,
        model_version=ModelVersion.objects.get(project=project, version=len(CURVE)),
        suggested_node=shadow[5].ground_truth,
        label_quality=0.042,
    )
    project.annotations_per_item = 1
    project.save()
    # The next item on the label page: the model is sure of the coarse class only.
    free = [item for item in items if item not in shadow]
    fine_item = free[0]
    Item.objects.filter(pk=fine_item.pk).update(priority=10)
    predict(
        project,
        [fine_item],
        leaf=fine_item.ground_truth.path,
        mode="fine",
        confidence=0.58,
        coarse=0.97,
        settled_depth=1,
        version=len(CURVE),
    )
    # A grid of ships, one of them really a truck.
    ships = [item for item in free[1:] if item.ground_truth.name == "ship"]
    trucks = [item for item in free[1:] if item.ground_truth.name == "truck"]
    predict(project, ships + trucks[:1], leaf="vehicle/ship", mode="verify", version=len(CURVE))
    guide_fill(project)
    return project, ana, lead, trucks[0]


def guide_fill(project) -> None:
    """The guide as the last retrain would leave it, with a lead's definitions. Embeddings:
    each answered item's true class plus noise, so the typical ones are its class's."""
    taxonomy = ProjectTaxonomy.load(project.taxonomies.get())
    answered = list(
        Item.objects.filter(project=project, annotations__isnull=False)
        .distinct()
        .select_related("ground_truth")
        .order_by("id")
    )
    rng = np.random.default_rng(0)
    size = len(taxonomy.nodes)
    truth = [taxonomy.core_index(item.ground_truth) for item in answered]
    embeddings = np.eye(size)[truth] * 5 + rng.normal(0, 1, (len(answered), size))
    guide_examples_refresh(
        version=ModelVersion.objects.filter(project=project).order_by("-version").first(),
        taxonomy=taxonomy,
        embeddings=embeddings,
        label=np.array(truth),
        item_ids=np.array([item.pk for item in answered]),
    )
    for path, text in DEFINITIONS.items():
        GuideDefinition.objects.create(
            project=project, node=taxonomy.taxonomy.nodes.get(path=path), text=text
        )


# The new-project page's tree editor: (parent, name, the field's number).
TREE_EDITS = [
    (None, "animal", "1"),
    ("animal", "cat", "1.1"),
    ("animal", "dog", "1.2"),
    (None, "vehicle", "2"),
    ("vehicle", "ship", "2.1"),
    ("vehicle", "truck", "2.2"),
]


def shoot(page, folder: Path, name: str, **options) -> None:
    page.wait_for_load_state("networkidle")
    path = folder / f"{name}.png"
    page.screenshot(path=path, **options)
    assert path.read_bytes().startswith(b"\x89PNG"), path


def test_screenshot_every_page(page, browser, live_server, cifar, screenshots, settings):
    project, ana, lead, decoy = campaign(cifar)
    base = f"/projects/{project.pk}"

    page.goto("/login/")
    shoot(page, screenshots, "login")

    login(page, lead)
    expect(page.locator("#project-rows tr")).to_have_count(1)
    expect(page.locator("#project-rows")).to_contain_text(f"v{len(CURVE)}: ")  # the latest
    shoot(page, screenshots, "projects")
    page.goto(f"{base}/dashboard/")
    expect(page.locator("#curve svg")).to_be_visible()
    expect(page.locator("#confusion svg").first).to_be_visible()
    shoot(page, screenshots, "dashboard")
    shoot(page, screenshots, "dashboard-full", full_page=True)
    page.goto(f"{base}/review/")
    expect(page.locator("#issues tr")).to_have_count(1)
    shoot(page, screenshots, "review")
    page.goto(f"{base}/settings/")
    expect(page.get_by_label("Strategy")).not_to_have_value("")
    shoot(page, screenshots, "settings")
    page.goto(f"{base}/members/")
    expect(page.locator('#members tr[data-username="ana"] td.num').first).to_have_text("20")
    shoot(page, screenshots, "members")
    settings.ARBOR_LEADS_CREATE_PROJECTS = True
    page.goto("/projects/new/")
    page.get_by_label("Name", exact=True).fill("Pets and vehicles")
    page.get_by_label("Build it here").check()
    for parent, name, number in TREE_EDITS:
        if parent:
            page.get_by_role("button", name=f"Add a class under '{parent}'").click()
        else:
            page.get_by_role("button", name="Add a top-level class").click()
        page.get_by_label(f"Name of class {number}", exact=True).fill(name)
    page.get_by_label("Level names").fill("kind, class")
    shoot(page, screenshots, "project-new")
    page.goto(f"{base}/taxonomy/")
    expect(page.locator('#tree tr[data-path="animal/cat"]')).to_be_visible()
    page.locator("#op").select_option("split")
    page.locator('#op-fields select[name="path"]').select_option("animal/cat")
    page.get_by_label("New classes").fill("domestic cat, big cat")
    page.get_by_role("button", name="Add to the changes").click()
    expect(page.locator("#remapped")).to_be_visible()
    shoot(page, screenshots, "taxonomy")
    page.goto(f"{base}/guide/")
    expect(page.locator(".guide-entry .examples img").first).to_be_visible()
    shoot(page, screenshots, "guide")
    page.goto(f"{base}/export/")
    page.get_by_role("button", name="Start export").click()
    expect(page.get_by_role("link", name="Download csv")).to_be_visible()
    shoot(page, screenshots, "export")

    annotator_page = browser.new_context(
        viewport=page.viewport_size, base_url=live_server.url
    ).new_page()
    login(annotator_page, ana)
    annotator_page.goto(f"{base}/label/")
    expect(annotator_page.locator("#mode")).to_have_text("fine only")
    annotator_page.keyboard.press("Shift")  # nothing: keeps focus styles off the page
    shoot(annotator_page, screenshots, "label")
    annotator_page.keyboard.press("g")
    expect(annotator_page.locator("#guide-drawer .guide-entry").first).to_be_visible()
    # The drawer's examples are all in view: the picture waits for them to be drawn.
    annotator_page.wait_for_function(
        "[...document.querySelectorAll('#guide-drawer img')]"
        ".every((image) => image.complete && image.naturalWidth > 0)"
    )
    shoot(annotator_page, screenshots, "label-guide")
    annotator_page.keyboard.press("g")
    annotator_page.goto(f"{base}/grid/")
    # The label page leased a few items ahead; the grid shows the rest of the ships.
    expect(annotator_page.locator("#tiles .tile").first).to_be_visible()
    annotator_page.locator(f'#tiles img[alt="Item {decoy.pk}"]').click()
    shoot(annotator_page, screenshots, "grid")
    close_quietly(annotator_page.context)
