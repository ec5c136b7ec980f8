"""Setting a project up in real Chromium: the new-project page and the members page."""

import json

import pytest
from playwright.sync_api import expect

from annotator.models import Membership, Project
from tests.factories import UserFactory
from tests.frontend.conftest import close_quietly, login, member
from tests.helpers import answer

pytestmark = pytest.mark.browser


def _leaves(project: Project) -> list[str]:
    nodes = project.taxonomies.get().nodes.filter(is_leaf=True)
    return sorted(nodes.values_list("path", flat=True))


def test_an_admin_creates_a_project_by_pasting_a_taxonomy(page):
    admin = UserFactory(is_staff=True)
    UserFactory(username="lena")
    login(page, admin)
    page.get_by_role("link", name="New project").click()

    page.get_by_label("Name", exact=True).fill("Birds")
    page.get_by_label("Lead").fill("lena")
    page.get_by_label("Paste it").check()
    page.get_by_label("Format").select_option("csv")
    page.get_by_label("Taxonomy text").fill("path\nbird/owl\nbird/wren,bird/robin\n")
    page.get_by_role("button", name="Create project").click()
    expect(page.locator("#message")).to_have_text(
        "Row 3: write one path per row, such as vehicle/truck."
    )
    assert not Project.objects.exists()

    page.get_by_label("Taxonomy text").fill("path\nbird/owl\nbird/wren\nbird/robin\n")
    page.get_by_label("Level names").fill("order, kind")
    page.get_by_role("button", name="Create project").click()

    expect(page.get_by_role("heading", name="Project “Birds” created")).to_be_visible()
    expect(page.get_by_role("button", name="Create project")).to_have_count(0)
    project = Project.objects.get()
    assert _leaves(project) == ["bird/owl", "bird/robin", "bird/wren"]
    assert project.taxonomies.get().levels == ["order", "kind"]
    assert list(project.memberships.values_list("user__username", "role")) == [("lena", "lead")]
    members = page.get_by_role("link", name="add members")
    expect(members).to_have_attribute("href", f"/projects/{project.pk}/members/")


def test_an_admin_builds_the_taxonomy_in_the_tree_editor(page):
    login(page, UserFactory(is_staff=True))
    page.goto("/projects/new/")
    page.get_by_label("Name", exact=True).fill("Pets and vehicles")
    page.get_by_label("Build it here").check()

    def add(parent: str | None, name: str, number: str) -> None:
        if parent is None:
            page.get_by_role("button", name="Add a top-level class").click()
        else:
            page.get_by_role("button", name=f"Add a class under '{parent}'").click()
        field = page.get_by_label(f"Name of class {number}", exact=True)
        expect(field).to_be_focused()
        field.fill(name)

    add(None, "animal", "1")
    add("animal", "cat", "1.1")
    add("animal", "dgo", "1.2")
    add(None, "vehicle", "2")
    add("vehicle", "ship", "2.1")
    add("vehicle", "plane", "2.2")
    page.get_by_label("Name of class 1.2", exact=True).fill("dog")  # rename
    page.get_by_role("button", name="Remove 'plane'").click()
    add("vehicle", "truck", "2.2")
    page.get_by_label("Level names").fill("kind, species")
    page.get_by_text("The JSON this makes").click()
    assert json.loads(page.locator("#tree-json").inner_text()) == {
        "levels": ["kind", "species"],
        "tree": {"animal": ["cat", "dog"], "vehicle": ["ship", "truck"]},
    }
    page.get_by_role("button", name="Create project").click()

    expect(page.get_by_role("heading", name="Project “Pets and vehicles” created")).to_be_visible()
    project = Project.objects.get()
    assert _leaves(project) == ["animal/cat", "animal/dog", "vehicle/ship", "vehicle/truck"]
    assert project.taxonomies.get().levels == ["kind", "species"]
    assert not project.memberships.exists(), "an admin needs no membership"


def test_a_lead_creates_projects_only_with_the_setting(page, cifar, settings):
    lead = member(cifar(1), Membership.Role.LEAD)
    login(page, lead)
    expect(page.locator("#project-rows tr")).to_have_count(1)
    expect(page.get_by_role("link", name="New project")).to_have_count(0)
    assert page.goto("/projects/new/").status == 403

    settings.ARBOR_LEADS_CREATE_PROJECTS = True
    page.goto("/")
    page.get_by_role("link", name="New project").click()
    page.get_by_label("Name", exact=True).fill("Lead's own")
    taxonomy = b'{"levels": ["kind"], "tree": ["cat", "dog"]}'
    page.get_by_label("Taxonomy file").set_input_files(
        files=[{"name": "taxonomy.json", "mimeType": "application/json", "buffer": taxonomy}]
    )
    page.get_by_role("button", name="Create project").click()

    expect(page.get_by_role("heading", name="Project “Lead's own” created")).to_be_visible()
    created = Project.objects.get(name="Lead's own")
    assert _leaves(created) == ["cat", "dog"]
    assert created.memberships.get().user == lead


def test_an_admin_adds_a_new_account_changes_its_role_and_removes_it(
    page, browser, live_server, cifar
):
    project = cifar(4)
    login(page, UserFactory(is_staff=True, username="root"))
    page.goto(f"/projects/{project.pk}/members/")
    expect(page.locator("#members")).to_contain_text("Nobody yet")

    page.get_by_label("Username").fill("nora")
    page.get_by_label("Create a new account with a one-time password").check()
    page.get_by_role("button", name="Add member").click()

    expect(page.locator("#message")).to_have_text("nora is a member, as annotator.")
    password = page.locator("#one-time-password").inner_text()
    assert len(password) == 16
    # The new account works with it, in a browser of its own.
    nora_page = browser.new_context(base_url=live_server.url).new_page()
    nora_page.goto("/login/")
    nora_page.get_by_label("Username").fill("nora")
    nora_page.get_by_label("Password").fill(password)
    nora_page.get_by_role("button", name="Log in").click()
    nora_page.wait_for_url("**/")
    expect(nora_page.locator("#project-rows tr")).to_have_count(1)
    close_quietly(nora_page.context)
    # Shown once: neither the page nor the API has it again.
    page.get_by_role("button", name="Done").click()
    expect(page.locator("#new-account")).to_be_hidden()
    page.reload()
    expect(page.locator('#members tr[data-username="nora"]')).to_be_visible()
    assert password not in page.content()

    nora = Membership.objects.get(project=project, user__username="nora")
    for duration_ms in (20_000, 40_000):
        answer(project=project, user=nora.user, node="animal/cat", duration_ms=duration_ms)
    page.reload()
    row = page.locator('#members tr[data-username="nora"]')
    expect(row.locator("td.num")).to_have_text(["2", "0.02", "120", "–", "2 (no quota)"])

    row.get_by_label("Role of nora").select_option("lead")
    expect(page.locator("#message")).to_have_text("nora is now lead.")
    nora.refresh_from_db()
    assert nora.role == "lead"

    page.once("dialog", lambda dialog: dialog.accept())
    row.get_by_role("button", name="Remove nora").click()
    expect(page.locator("#message")).to_contain_text("nora was removed")
    expect(row).to_have_count(0)
    assert not Membership.objects.filter(pk=nora.pk).exists()


def test_a_lead_adds_someone_with_an_account_but_creates_none(page, cifar):
    project = cifar(1)
    UserFactory(username="sam")
    login(page, member(project, Membership.Role.LEAD))
    page.goto(f"/projects/{project.pk}/members/")

    expect(page.get_by_text("Only admins create accounts")).to_be_visible()
    expect(page.get_by_label("Create a new account with a one-time password")).to_have_count(0)
    page.get_by_label("Username").fill("nobody-here")
    page.get_by_role("button", name="Add member").click()
    expect(page.locator("#message")).to_have_text(
        "No user 'nobody-here'; an admin can create the account."
    )
    page.get_by_label("Username").fill("sam")
    page.get_by_role("button", name="Add member").click()

    expect(page.locator('#members tr[data-username="sam"]')).to_be_visible()
    assert project.memberships.get(user__username="sam").role == "annotator"
