"""Every list endpoint pages the same way: ``{count, next, previous, results}``."""

from collections.abc import Callable

import pytest
from django.contrib.auth import get_user_model

from annotator.models import Export, Membership
from annotator.taxonomy.versions import taxonomy_version_create
from learning.models import LabelIssue, TrainingRun
from tests.factories import (
    AnnotationFactory,
    MembershipFactory,
    ModelVersionFactory,
    ProjectFactory,
    item_create,
)

ROWS = 3  # each builder leaves this many rows in its list


def _projects(project, lead) -> None:
    for _ in range(ROWS - 1):
        MembershipFactory(project=ProjectFactory(), user=lead, role=Membership.Role.LEAD)


def _members(project, lead) -> None:
    for _ in range(ROWS - 1):
        MembershipFactory(project=project)


def _exports(project, lead) -> None:
    for _ in range(ROWS):
        Export.objects.create(
            project=project, format=Export.Format.CSV, taxonomy=project.taxonomies.get()
        )


def _taxonomy_versions(project, lead) -> None:
    for path, name in (("animal/cat", "feline"), ("animal/feline", "kitty")):
        changes = [{"op": "rename", "path": path, "new_name": name}]
        taxonomy_version_create(project=project, actor=lead, changes=changes)


def _learning_curve(project, lead) -> None:
    for _ in range(ROWS):
        ModelVersionFactory(project=project)


def _training_runs(project, lead) -> None:
    for _ in range(ROWS):
        TrainingRun.objects.create(
            project=project, trigger=TrainingRun.Trigger.MANUAL, state=TrainingRun.State.FAILED
        )


def _label_issues(project, lead) -> None:
    model = ModelVersionFactory(project=project)
    for seed in range(ROWS):
        annotation = AnnotationFactory(item=item_create(project, seed), node="animal/cat")
        LabelIssue.objects.create(
            project=project,
            annotation=annotation,
            model_version=model,
            suggested_node=model.taxonomy.nodes.get(path="animal/dog"),
            label_quality=0.1,  # the same for all: the id orders them
        )


LISTS: dict[str, Callable] = {
    "/api/projects/": _projects,
    "/api/projects/{project}/members/": _members,
    "/api/projects/{project}/exports/": _exports,
    "/api/projects/{project}/taxonomy/versions/": _taxonomy_versions,
    "/api/projects/{project}/learning-curve/": _learning_curve,
    "/api/projects/{project}/training-runs/": _training_runs,
    "/api/projects/{project}/label-issues/": _label_issues,
}


@pytest.mark.django_db
@pytest.mark.parametrize("route", LISTS)
def test_every_list_pages_alike(route, project, lead, api):
    LISTS[route](project, lead)
    client = api(lead)

    first = client.get(route.format(project=project.id), {"page_size": 2}).json()
    second = client.get(first["next"]).json()

    assert (first["count"], len(first["results"]), first["previous"]) == (ROWS, 2, None)
    assert (second["count"], len(second["results"]), second["next"]) == (ROWS, 1, None)
    ids = [row.get("id", row.get("model_version")) for row in first["results"]]
    ids += [row.get("id", row.get("model_version")) for row in second["results"]]
    assert len(set(ids)) == ROWS  # every row once, none twice across the pages


@pytest.mark.django_db
def test_the_page_size_has_a_ceiling(project, lead, api):
    users = get_user_model().objects.bulk_create(
        get_user_model()(username=f"member{n}") for n in range(600)
    )
    Membership.objects.bulk_create(
        Membership(project=project, user=user, role=Membership.Role.ANNOTATOR) for user in users
    )

    page = api(lead).get(f"/api/projects/{project.id}/members/", {"page_size": 10_000}).json()

    assert page["count"] == 601
    assert len(page["results"]) == 500


@pytest.mark.django_db
def test_the_learning_curve_ends_on_the_last_page(project, lead, api):
    _learning_curve(project, lead)

    page = api(lead).get(f"/api/projects/{project.id}/learning-curve/?page=last&page_size=2")

    assert [point["model_version"] for point in page.json()["results"]] == [3]
