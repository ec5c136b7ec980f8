import pytest

from annotator.exceptions import InvalidInput
from annotator.models import Strategy
from annotator.projects import project_update
from learning.core.strategies import STRATEGIES


def test_the_projects_strategy_choices_are_the_cores_strategies():
    assert set(Strategy.values) == set(STRATEGIES)


def test_an_unknown_strategy_is_refused_by_the_service_not_only_the_api(project):
    with pytest.raises(InvalidInput, match="Unknown strategy; choose from balanced"):
        project_update(project=project, strategy="nonsense")
    project.refresh_from_db()
    assert project.strategy == "margin"


def test_the_api_answers_an_unknown_strategy_with_400(project, lead, api):
    response = api(lead).patch(f"/api/projects/{project.id}/", {"strategy": "guesswork"})
    assert response.status_code == 400
    assert response.json()["detail"].startswith("Unknown strategy; choose from balanced")
    project.refresh_from_db()
    assert project.strategy == "margin"
