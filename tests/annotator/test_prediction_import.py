"""Predictions of an outside model, the import history and the report as CSV."""

import csv
import io
import json

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from annotator import services
from annotator.models import ImportJob, Item, ModelVersion
from tests.factories import item_create


def upload(text: str, name: str) -> SimpleUploadedFile:
    return SimpleUploadedFile(name, text.encode(), content_type="text/plain")


@pytest.fixture
def items(project):
    return [item_create(project, seed) for seed in range(3)]


@pytest.mark.django_db
def test_csv_predictions_are_shown_to_annotators_and_bad_rows_reported(
    project, items, lead, annotator, api
):
    rows = [
        "file,node,confidence",
        "0.png,animal/cat,0.95",
        "1.png,animal,0.6",
        "nowhere.png,animal/cat,0.5",
        "2.png,animal/unicorn,0.5",
        "2.png,animal/dog,1.5",
        "2.png,animal/dog,high",
        "0.png,animal/dog,0.5",
    ]
    response = api(lead).post(
        f"/api/projects/{project.pk}/predictions/",
        {"file": upload("\n".join(rows), "=model.csv"), "model_name": "resnet"},
        format="multipart",
    )

    assert response.status_code == 201, response.data
    job = response.data
    assert (job["kind"], job["state"], job["total"], job["imported"]) == (
        "predictions",
        "succeeded",
        7,
        2,
    )
    reasons = [error["error"] for error in job["errors"]]
    assert reasons == [
        "Row 3: No item of the project has this name.",
        "Row 4: 'animal/unicorn' is not a node of the current taxonomy.",
        "Row 5: Confidence 1.5 is not between 0 and 1.",
        "Row 6: Confidence 'high' is not a number.",
        "Row 7: A second row for the same item; the first one is kept.",
    ]
    version = ModelVersion.objects.get(project=project)
    assert (version.source, version.version, version.metrics["external"]["name"]) == (
        "external",
        1,
        "resnet",
    )
    # The queue leases with the newest model's prediction, as for Arbor's own.
    shown = {}
    while lease := services.queue_next(project=project, user=annotator):
        shown[lease.item.original_name] = lease.assignment.prediction
    assert shown["0.png"].predicted_node.path == "animal/cat"
    assert (shown["0.png"].mode, shown["0.png"].settled_depth) == ("verify", 2)
    assert [level["path"] for level in shown["0.png"].path] == ["animal", "animal/cat"]
    assert (shown["1.png"].predicted_node.path, shown["1.png"].mode) == ("animal", "full")
    assert shown["2.png"] is None


@pytest.mark.django_db
def test_json_predictions_match_base_names_and_a_useless_file_is_recorded(project, lead, api):
    Item.objects.filter(pk=item_create(project, 7).pk).update(original_name="cats/7.png")
    url = f"/api/projects/{project.pk}/predictions/"
    good = json.dumps(
        {"predictions": [{"file": "7.png", "path": "vehicle/truck", "confidence": 0.3}]}
    )
    assert (
        api(lead).post(url, {"file": upload(good, "p.json")}, format="multipart").data["imported"]
        == 1
    )

    useless = json.dumps([{"file": "8.png", "node": "x", "confidence": 1}, "not an object"])
    response = api(lead).post(url, {"file": upload(useless, "p.json")}, format="multipart")
    assert (response.status_code, response.data["state"]) == (201, "failed")
    assert response.data["error"] == "No row could be imported."
    assert ModelVersion.objects.filter(project=project).count() == 1


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("a,b\n1,2", "the header must name the columns file, node and confidence"),
        ("{not json", "The JSON cannot be read"),
        ('{"rows": 1}', "give a list of rows"),
    ],
)
def test_unreadable_prediction_files_are_refused_with_a_message(project, lead, api, text, message):
    response = api(lead).post(
        f"/api/projects/{project.pk}/predictions/", {"file": upload(text, "p")}, format="multipart"
    )
    assert response.status_code == 400
    assert message in response.data["detail"]
    assert not ImportJob.objects.exists()


@pytest.mark.django_db
def test_history_and_the_report_as_formula_safe_csv(project, lead, api):
    job = ImportJob.objects.create(
        project=project,
        created_by=lead,
        name="photos.zip",
        source="/x",
        state="succeeded",
        imported=8,
        duplicates=1,
        errors=[{"file": "=HYPERLINK(evil).jpg", "error": "Not a JPEG, PNG or WebP image"}],
        unmatched_folders=[{"folder": "misc", "files": 2}],
    )

    history = api(lead).get(f"/api/projects/{project.pk}/imports/").data["results"]
    assert [(row["id"], row["name"], row["created_by"]) for row in history] == [
        (job.pk, "photos.zip", lead.username)
    ]
    response = api(lead).get(f"/api/imports/{job.pk}/report/")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    assert f"import-{job.pk}-report.csv" in response["Content-Disposition"]
    rows = list(csv.reader(io.StringIO(response.content.decode())))
    assert rows == [
        ["file", "outcome", "detail"],
        ["", "imported", "8"],
        ["", "duplicates skipped", "1"],
        ["'=HYPERLINK(evil).jpg", "refused", "Not a JPEG, PNG or WebP image"],
        ["misc", "no matching leaf", "2 files, no label"],
    ]
