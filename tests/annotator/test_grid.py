import pytest

from annotator.models import Annotation, Assignment, Item
from annotator.taxonomy.versions import taxonomy_version_create
from tests.annotator.export_data import model_version, predict
from tests.factories import MembershipFactory, item_create


@pytest.fixture
def confident(project):
    """Items the model is sure of: five cats, three dogs (higher priority), one unsure."""
    version = model_version(project)
    items = {}
    for seed, (path, priority, mode) in enumerate(
        [("animal/cat", 0.5, "verify")] * 5
        + [("animal/dog", 0.9, "verify")] * 3
        + [("animal/frog", 0.99, "full")]
    ):
        item = item_create(project, seed, priority=priority)
        predict(item, path, version=version, confidence=0.97, mode=mode)
        items.setdefault(path, []).append(item)
    return items


def _grid(client, project, size=24):
    return client.post(f"/api/projects/{project.id}/queue/grid/", {"size": size}, format="json")


@pytest.mark.django_db
def test_grid_leases_one_predicted_leaf_at_a_time(api, project, annotator, confident):
    client = api(annotator)

    dogs = _grid(client, project).json()
    cats = _grid(client, project, size=4).json()
    rest = _grid(client, project).json()

    assert dogs["node"]["path"] == "animal/dog"
    assert sorted(row["item"]["id"] for row in dogs["items"]) == sorted(
        i.id for i in confident["animal/dog"]
    )
    assert {row["mode"] for row in dogs["items"]} == {"verify"}
    assert cats["node"]["path"] == "animal/cat" and len(cats["items"]) == 4
    assert len(rest["items"]) == 1
    assert _grid(client, project).status_code == 204  # the unsure frog is not for a grid


@pytest.mark.django_db
def test_grid_answer_confirms_accepted_and_requeues_rejected(api, project, annotator, confident):
    client = api(annotator)
    _grid(client, project)  # the dogs
    page = _grid(client, project, size=5).json()["items"]  # the cats
    wrong = [page[0]["lease"]["id"], page[1]["lease"]["id"]]
    right = [row["lease"]["id"] for row in page[2:]]
    body = {"accept": right, "reject": wrong}

    answered = client.post(f"/api/projects/{project.id}/queue/grid/answer/", body, format="json")
    again = client.post(f"/api/projects/{project.id}/queue/grid/answer/", body, format="json")

    assert answered.json() == again.json() == {"accepted": 3, "rejected": 2}
    confirmed = Annotation.objects.filter(source=Annotation.Source.CONFIRMED)
    assert confirmed.count() == 3
    assert {a.node.path for a in confirmed} == {"animal/cat"}
    rejected_items = [row["item"]["id"] for row in page[:2]]
    assert set(Item.objects.filter(pk__in=rejected_items).values_list("state", flat=True)) == {
        "unlabeled"
    }
    # Someone else gets the rejected items first, asked in full.
    colleague = MembershipFactory(project=project).user
    served = api(colleague).post(f"/api/projects/{project.id}/queue/next/").json()
    assert served["item"]["id"] in rejected_items
    assert served["mode"] == "full"


@pytest.mark.django_db
def test_grid_answer_refuses_foreign_or_overlapping_leases(api, project, annotator, confident):
    # An outsider's 404 for the same request is test_permissions.test_role_matrix.
    client = api(annotator)
    page = _grid(client, project, size=2).json()["items"]
    lease = page[0]["lease"]["id"]
    other = MembershipFactory(project=project).user

    both = client.post(
        f"/api/projects/{project.id}/queue/grid/answer/",
        {"accept": [lease], "reject": [lease]},
        format="json",
    )
    foreign = api(other).post(
        f"/api/projects/{project.id}/queue/grid/answer/", {"accept": [lease]}, format="json"
    )

    assert both.status_code == 400 and foreign.status_code == 400
    assert not Annotation.objects.exists()
    assert Assignment.objects.get(pk=lease).state == Assignment.State.ACTIVE


@pytest.mark.django_db
def test_grid_respects_the_budget(api, project, annotator, confident, admin_user):
    project.max_human_annotations = 2
    project.save()
    page = _grid(api(annotator), project).json()
    assert len(page["items"]) == 2
    assert _grid(api(annotator), project).status_code == 204


@pytest.mark.django_db
def test_grid_stops_at_the_cap_of_open_leases(api, project, annotator, confident, settings):
    settings.ARBOR_MAX_OPEN_LEASES = 3
    client = api(annotator)
    assert client.post(f"/api/projects/{project.id}/queue/next/").json()["mode"] == "full"

    near = _grid(client, project)  # room for two of the three dogs
    at_cap = _grid(client, project)

    assert near.status_code == 200
    assert near.json()["node"]["path"] == "animal/dog" and len(near.json()["items"]) == 2
    assert at_cap.status_code == 409
    assert "answer or skip" in at_cap.json()["detail"]
    assert Assignment.objects.filter(annotator=annotator).count() == 3


@pytest.mark.django_db
def test_an_item_with_older_predictions_is_leased_once(api, project, annotator, confident):
    newer = model_version(project, version=2)
    for path, items in confident.items():
        for item in items:
            predict(
                item,
                path,
                version=newer,
                confidence=0.98,
                mode="verify" if path != "animal/frog" else "full",
            )

    page = _grid(api(annotator), project).json()["items"]

    ids = [row["item"]["id"] for row in page]
    assert len(ids) == len(set(ids)) == 3
    assert {row["prediction"]["model_version"] for row in page} == {2}


@pytest.mark.django_db
def test_a_page_leased_before_a_taxonomy_change_is_accepted_whole(
    api, project, annotator, lead, confident
):
    client = api(annotator)
    page = _grid(client, project).json()["items"]  # the dogs, predicted under version 1
    taxonomy_version_create(
        project=project,
        actor=lead,
        changes=[{"op": "merge", "paths": ["animal/dog", "animal/frog"], "into": "animal/canid"}],
    )

    answered = client.post(
        f"/api/projects/{project.id}/queue/grid/answer/",
        {"accept": [row["lease"]["id"] for row in page], "reject": []},
        format="json",
    )

    assert answered.status_code == 200 and answered.json() == {"accepted": 3, "rejected": 0}
    stored = Annotation.objects.filter(source=Annotation.Source.CONFIRMED)
    assert {(a.node.path, a.node.taxonomy.version) for a in stored} == {("animal/canid", 2)}
    assert stored.count() == 3
