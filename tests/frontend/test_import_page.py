"""The import page in Chromium: a lead uploads a zip of real photos and follows the upload,
the import job and its report, then downloads the report as CSV."""

import csv
import io
import zipfile
from pathlib import Path

import pytest
from playwright.sync_api import expect

from annotator.models import ImportJob, Item, Membership
from tests.factories import ProjectFactory, taxonomy_build
from tests.frontend.conftest import login, member

pytestmark = pytest.mark.browser

HYMENOPTERA = Path(__file__).resolve().parents[3] / "shared" / "datasets" / "hymenoptera" / "images"


def photos_zip(path: Path) -> Path:
    """Five ants and five bees in folders named like the leaves, one copy of a bee under
    another name, and a text file that is no image."""
    if not HYMENOPTERA.is_dir():
        pytest.skip(f"{HYMENOPTERA} is missing")
    with zipfile.ZipFile(path, "w") as archive:
        for leaf in ("ants", "bees"):
            for photo in sorted((HYMENOPTERA / leaf).glob("*.jpg"))[:5]:
                archive.write(photo, f"{leaf}/{photo.name}")
        archive.write(sorted((HYMENOPTERA / "bees").glob("*.jpg"))[0], "bees/copy.jpg")
        archive.writestr("notes.txt", "=cmd|' /C calc'!A0 not a photo")
    return path


def test_a_lead_uploads_a_zip_of_photos_and_reads_the_report(page, tmp_path, screenshots):
    project = ProjectFactory(name="Hymenoptera")
    taxonomy_build(project, {"insect": ["ants", "bees"]})
    lead = member(project, Membership.Role.LEAD)
    login(page, lead)
    page.goto(f"/projects/{project.pk}/import/")

    page.get_by_label("Folders named like leaves label their images").check()
    page.get_by_label("Import those labels as").select_option("gold")
    page.locator("#pick-files").set_input_files(photos_zip(tmp_path / "photos.zip"))

    # The last part starts the import: in the tests Celery runs it within that request.
    expect(page.locator("#upload-text")).to_contain_text("Uploaded photos.zip", timeout=30_000)
    expect(page.locator("#upload-progress")).to_have_js_property("value", 1)
    expect(page.locator("#job-text")).to_contain_text("succeeded, 12 of 12 files")
    expect(page.locator("#job-progress")).to_have_js_property("value", 1)
    expect(page.locator("#report-summary")).to_contain_text(
        "10 imported, 1 duplicates skipped, 1 refused."
    )
    expect(page.locator("#refused")).to_contain_text("notes.txt")
    expect(page.locator("#history tr")).to_have_count(1)
    expect(page.locator("#history")).to_contain_text(lead.username)
    page.screenshot(path=screenshots / "import.png")

    with page.expect_download() as download_info:
        page.get_by_role("link", name="Download the report (CSV)").click()
    rows = list(csv.reader(io.StringIO(download_info.value.path().read_text())))
    assert rows[1:3] == [["", "imported", "10"], ["", "duplicates skipped", "1"]]
    assert rows[3][:2] == ["notes.txt", "refused"]
    job = ImportJob.objects.get(project=project)
    assert (job.name, job.created_by, job.labels_as) == ("photos.zip", lead, "gold")
    assert (
        sorted(Item.objects.values_list("ground_truth__path", flat=True))
        == ["insect/ants"] * 5 + ["insect/bees"] * 5
    )


def test_a_folder_pick_is_zipped_in_the_browser_with_its_folders(page, tmp_path):
    project = ProjectFactory()
    taxonomy_build(project, {"insect": ["ants", "bees"]})
    login(page, member(project, Membership.Role.LEAD))
    page.goto(f"/projects/{project.pk}/import/")
    page.get_by_label("Folders named like leaves label their images").check()
    page.get_by_label("Import those labels as").select_option("human")
    folder = tmp_path / "picked"
    for leaf in ("ants", "bees"):
        (folder / leaf).mkdir(parents=True)
        photo = sorted((HYMENOPTERA / leaf).glob("*.jpg"))[0]
        (folder / leaf / photo.name).write_bytes(photo.read_bytes())

    page.locator("#pick-folder").set_input_files(folder)

    expect(page.locator("#report-summary")).to_contain_text("2 imported, 0 duplicates skipped")
    assert sorted(Item.objects.values_list("annotations__node__path", "state")) == [
        ("insect/ants", "labeled"),
        ("insect/bees", "labeled"),
    ]
