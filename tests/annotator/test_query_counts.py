"""Query counts of the hot endpoints, pinned: an N+1 cannot creep in unseen.

Counted after a first call (the connection and the token warm), as the labeling page
sees them. A change that moves a count must say why in its commit.
"""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from annotator.models import Membership
from tests.factories import MembershipFactory, ModelVersionFactory, PredictionFactory, item_create

NEXT_QUERIES = 11
ANSWER_QUERIES = 14
GRID_BASE_QUERIES, GRID_QUERIES_PER_ITEM = 12, 3


@pytest.fixture
def confident(project):
    """Eight items, each predicted as cat with confidence, by one model version."""
    version = ModelVersionFactory(project=project)
    for seed in range(8):
        PredictionFactory(
            item=item_create(project, seed),
            model_version=version,
            predicted_node="animal/cat",
            mode="verify",
            confidence=0.99,
        )
    return project


@pytest.fixture
def client(confident, api):
    user = MembershipFactory(project=confident, role=Membership.Role.ANNOTATOR).user
    client = api(user)
    assert client.post(f"/api/projects/{confident.id}/queue/next/").status_code == 200
    return client


def _counted(call):
    with CaptureQueriesContext(connection) as queries:
        response = call()
    return response, len(queries)


@pytest.mark.django_db
def test_next_item_and_its_answer(confident, client):
    lease, count = _counted(lambda: client.post(f"/api/projects/{confident.id}/queue/next/"))
    assert lease.status_code == 200
    assert count == NEXT_QUERIES

    body = lease.json()
    answer, count = _counted(
        lambda: client.post(
            f"/api/items/{body['item']['id']}/annotations/",
            {
                "node": body["prediction"]["node"],
                "lease": body["lease"]["id"],
                "idempotency_key": "k",
            },
            format="json",
        )
    )
    assert answer.status_code == 201
    assert count == ANSWER_QUERIES


@pytest.mark.django_db
@pytest.mark.parametrize("size", [2, 5])
def test_grid_costs_a_fixed_number_of_queries_per_item(confident, client, size):
    grid, count = _counted(
        lambda: client.post(f"/api/projects/{confident.id}/queue/grid/", {"size": size})
    )
    assert grid.status_code == 200
    assert len(grid.json()["items"]) == size
    assert count == GRID_BASE_QUERIES + GRID_QUERIES_PER_ITEM * size
