import datetime as dt
import uuid

import pytest
from django.utils import timezone

from annotator import selectors, services
from annotator.models import Annotation, Assignment, Item, TaxonomyNode
from annotator.taxonomy.versions import taxonomy_version_create
from tests.factories import MembershipFactory, ModelVersionFactory, PredictionFactory, item_create


@pytest.fixture
def leased(api, project, annotator):
    """An item leased to the annotator: (client, item id, lease id)."""
    item_create(project, 1)
    client = api(annotator)
    body = client.post(f"/api/projects/{project.id}/queue/next/").json()
    return client, body["item"]["id"], body["lease"]["id"]


def _submit(client, item_id, **data):
    return client.post(f"/api/items/{item_id}/annotations/", data, format="json")


@pytest.mark.django_db
def test_submit_by_path_stores_answer_and_ends_lease(leased, annotator):
    client, item_id, lease_id = leased

    response = _submit(
        client, item_id, node="animal/dog", lease=lease_id, idempotency_key="k1", duration_ms=1800
    )

    assert response.status_code == 201, response.json()
    annotation = Annotation.objects.get()
    assert annotation.node.path == "animal/dog"
    assert annotation.annotator == annotator
    assert annotation.source == Annotation.Source.MANUAL
    assert annotation.duration_ms == 1800
    assert Assignment.objects.get(pk=lease_id).state == Assignment.State.SUBMITTED
    item = Item.objects.get(pk=item_id)
    assert item.state == Item.State.LABELED and item.lease_expires_at is None


@pytest.mark.django_db
def test_coarse_only_answer_by_id(leased, project):
    client, item_id, lease_id = leased
    animal = TaxonomyNode.objects.get(taxonomy__project=project, path="animal")

    response = _submit(client, item_id, node=animal.id, lease=lease_id)

    assert response.status_code == 201
    assert response.json()["node_path"] == "animal"


@pytest.mark.django_db
def test_same_idempotency_key_stores_one_answer(leased):
    client, item_id, lease_id = leased
    first = _submit(client, item_id, node="animal/cat", lease=lease_id, idempotency_key="again")
    second = _submit(client, item_id, node="animal/cat", lease=lease_id, idempotency_key="again")

    assert (first.status_code, second.status_code) == (201, 200)
    assert first.json() == second.json()
    assert Annotation.objects.count() == 1


@pytest.mark.django_db
def test_idempotency_key_of_another_item_is_refused(api, project, annotator):
    item_create(project, 1)
    item_create(project, 2)
    client = api(annotator)
    one = client.post(f"/api/projects/{project.id}/queue/next/").json()
    two = client.post(f"/api/projects/{project.id}/queue/next/").json()
    _submit(
        client, one["item"]["id"], node="animal/cat", lease=one["lease"]["id"], idempotency_key="k"
    )

    response = _submit(
        client, two["item"]["id"], node="animal/cat", lease=two["lease"]["id"], idempotency_key="k"
    )

    assert response.status_code == 400
    assert "another item" in response.json()["detail"]


@pytest.mark.django_db
def test_used_lease_is_stale(leased):
    client, item_id, lease_id = leased
    _submit(client, item_id, node="animal/cat", lease=lease_id, idempotency_key="a")

    response = _submit(client, item_id, node="animal/dog", lease=lease_id, idempotency_key="b")

    assert response.status_code == 409
    assert Annotation.objects.get().node.path == "animal/cat"


@pytest.mark.django_db
def test_expired_lease_is_stale(leased):
    client, item_id, lease_id = leased
    Assignment.objects.filter(pk=lease_id).update(
        expires_at=timezone.now() - dt.timedelta(seconds=1)
    )

    response = _submit(client, item_id, node="animal/cat", lease=lease_id)

    assert response.status_code == 409
    assert "expired" in response.json()["detail"]
    assert not Annotation.objects.exists()


@pytest.mark.django_db
@pytest.mark.parametrize(
    "payload, message",
    [
        ({"node": "animal/unicorn"}, "not a node"),
        ({"node": 999999}, "not a node"),
        ({"node": ""}, "node"),
        ({"node": None}, "node"),
        ({"node": "animal/cat", "lease": str(uuid.uuid4())}, "No such lease"),
        ({"node": "animal/cat", "lease": "not-a-uuid"}, "lease"),
        ({"node": "animal/cat", "duration_ms": -5}, "duration_ms"),
        ({"node": "animal/cat", "source": "auto"}, "source"),
        ({"node": "animal/cat", "source": "confirmed"}, "needs a prediction"),
    ],
)
def test_bad_submissions_get_400_and_store_nothing(leased, payload, message):
    client, item_id, lease_id = leased

    response = _submit(client, item_id, **{"lease": lease_id, **payload})

    assert response.status_code == 400
    assert message in str(response.json())
    assert not Annotation.objects.exists()
    assert Assignment.objects.get(pk=lease_id).state == Assignment.State.ACTIVE


@pytest.mark.django_db
def test_node_of_another_projects_taxonomy_is_invalid(leased, outsider):
    client, item_id, lease_id = leased
    foreign = TaxonomyNode.objects.create(
        taxonomy=outsider.memberships.get().project.taxonomies.create(levels=["x"]),
        name="x",
        path="x",
        depth=1,
        is_leaf=True,
    )

    response = _submit(client, item_id, node=foreign.id, lease=lease_id)

    assert response.status_code == 400


@pytest.mark.django_db
def test_lease_of_another_item_is_refused(api, project, annotator):
    item_create(project, 1)
    item_create(project, 2)
    client = api(annotator)
    body = client.post(f"/api/projects/{project.id}/queue/next/").json()
    other = Item.objects.exclude(pk=body["item"]["id"]).get()

    response = _submit(client, other.id, node="animal/cat", lease=body["lease"]["id"])

    assert response.status_code == 400
    assert "another item" in response.json()["detail"]


@pytest.mark.django_db
def test_prediction_shown_is_recorded_and_source_derived(api, project, annotator):
    item = item_create(project, 1)
    taxonomy = project.taxonomies.get()
    cat = taxonomy.nodes.get(path="animal/cat")
    version = ModelVersionFactory(project=project, taxonomy=taxonomy)
    prediction = PredictionFactory(
        item=item,
        model_version=version,
        predicted_node=cat,
        confidence=0.8,
        path=[
            {"node": cat.parent_id, "path": "animal", "p": 0.9},
            {"node": cat.id, "path": "animal/cat", "p": 0.8},
        ],
    )
    client = api(annotator)
    body = client.post(f"/api/projects/{project.id}/queue/next/").json()
    assert body["prediction"]["path"] == "animal/cat"
    assert body["prediction"]["model_version"] == 1

    response = _submit(client, item.id, node="animal/dog", lease=body["lease"]["id"])

    annotation = Annotation.objects.get(pk=response.json()["id"])
    assert annotation.source == Annotation.Source.CORRECTED
    assert annotation.prediction == prediction
    assert annotation.model_version == version


def _leased_with_prediction(api, project, annotator, path: str):
    """An item predicted ``path`` by a model of the first taxonomy version, leased to the
    annotator: (client, the queue's answer)."""
    item = item_create(project, 1)
    taxonomy = project.taxonomies.get()
    PredictionFactory(
        item=item,
        model_version=ModelVersionFactory(project=project, taxonomy=taxonomy),
        predicted_node=taxonomy.nodes.get(path=path),
    )
    client = api(annotator)
    return client, client.post(f"/api/projects/{project.id}/queue/next/").json()


@pytest.mark.django_db
def test_an_id_of_the_version_before_a_rename_answers_the_renamed_node(
    api, project, annotator, lead
):
    client, body = _leased_with_prediction(api, project, annotator, "animal/cat")
    taxonomy_version_create(
        project=project,
        actor=lead,
        changes=[{"op": "rename", "path": "animal", "new_name": "fauna"}],
    )

    # Enter on a page loaded before the change sends the prediction's old node id.
    response = _submit(
        client, body["item"]["id"], node=body["prediction"]["node"], lease=body["lease"]["id"]
    )

    assert response.status_code == 201
    annotation = Annotation.objects.get()
    assert annotation.node.path == "fauna/cat"
    assert annotation.node.taxonomy == selectors.taxonomy_current(project=project)
    assert annotation.source == Annotation.Source.CONFIRMED
    assert Item.objects.get().state == Item.State.LABELED


@pytest.mark.django_db
def test_an_id_of_a_leaf_split_since_is_kept_at_its_parent_and_asked_again(
    api, project, annotator, lead
):
    client, body = _leased_with_prediction(api, project, annotator, "animal/cat")
    # Two versions later: the path through the mappings is followed one version at a time.
    for change in (
        {"op": "split", "path": "animal/cat", "into": ["tabby", "siamese"]},
        {"op": "rename", "path": "animal", "new_name": "fauna"},
    ):
        taxonomy_version_create(project=project, actor=lead, changes=[change])

    response = _submit(
        client, body["item"]["id"], node=body["prediction"]["node"], lease=body["lease"]["id"]
    )

    assert response.status_code == 201
    annotation = Annotation.objects.get()
    assert (annotation.node.path, annotation.source) == ("fauna", Annotation.Source.CONFIRMED)
    assert annotation.node.taxonomy.version == 3
    # As the split did with the answers before it: nobody knows which new leaf was meant.
    assert Item.objects.get().state == Item.State.UNLABELED
    colleague = MembershipFactory(project=project).user
    assert services.queue_next(project=project, user=colleague).item.pk == body["item"]["id"]
