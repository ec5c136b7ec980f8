"""Who may do what: every API endpoint and method, for every role.

Roles: ``admin`` (Django staff, no membership), ``lead`` and ``annotator`` of the project,
``outsider`` (a lead of another project) and ``anonymous``. The objects the routes name
belong to ``owner``, another annotator of the project, so the annotator row also says
what an annotator may do to other people's work.

An outsider gets 404 from every method of every route that takes an id, and a refused
write (any status but 2xx) changes no stored row.

A new endpoint fails ``test_every_endpoint_and_method_has_a_row`` until ``ROWS`` says
who may call it: add a ``Row`` per method (with a builder in ``ID_BUILDERS`` when its URL
takes a new kind of id).
"""

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
from rest_framework.test import APIClient

from annotator import services
from annotator.models import Export, ImportJob, Membership, Taxonomy, Upload
from learning.models import GuideExample, LabelIssue, TrainingRun
from tests.conftest import client_for
from tests.factories import (
    MembershipFactory,
    ModelVersionFactory,
    UserFactory,
    item_create,
    png_bytes,
)
from tests.helpers import answer, stored_rows, zip_upload
from tests.routes import api_endpoints, api_endpoints_with_an_id

ROLES = ("admin", "lead", "annotator", "outsider", "anonymous")


def expect(
    *, admin: int, lead: int = 404, annotator: int = 404, outsider: int = 404
) -> dict[str, int]:
    """Expected status per role; anonymous callers always get 401."""
    return {
        "admin": admin,
        "lead": lead,
        "annotator": annotator,
        "outsider": outsider,
        "anonymous": 401,
    }


def managers(ok: int) -> dict[str, int]:
    """Leads and admins; annotators, like outsiders, may not learn the endpoint exists."""
    return expect(admin=ok, lead=ok)


def members(ok: int) -> dict[str, int]:
    return expect(admin=ok, lead=ok, annotator=ok)


def public(status: int) -> dict[str, int]:
    return {role: status for role in ROLES}


@dataclass(frozen=True)
class Row:
    method: str
    # The route as the resolver knows it, ids as {project}, {item}, ... (tests/routes.py).
    route: str
    expected: dict[str, int]
    # Values may be callables, called for each request (an upload is read once).
    body: dict[str, Any] | None = None
    # Placeholder -> world key to use instead, e.g. the caller's own lease.
    use: dict[str, str] = field(default_factory=dict)
    why: str = ""
    format: str = "json"

    @property
    def id(self) -> str:
        return f"{self.method.upper()} {self.route}{' ' + self.why if self.why else ''}"


PROJECT = "/api/projects/{project}/"
ROWS = [
    Row("post", "/api/auth/token/", public(400), {"username": "nobody", "password": "wrong"}),
    Row(
        "post",
        "/api/auth/token/revoke/",
        expect(admin=204, lead=204, annotator=204, outsider=204),
        why="each revokes their own token",
    ),
    Row("get", "/api/schema/", public(200)),
    Row("get", "/api/docs/", public(200)),
    Row("get", "/api/projects/", members(200) | {"outsider": 200}),
    Row(
        "post",
        "/api/projects/",
        expect(admin=201, lead=403, annotator=403, outsider=403),
        {"name": "new"},
        why="only admins create projects",
    ),
    Row("get", PROJECT, members(200)),
    Row("patch", PROJECT, managers(200), {"name": "renamed", "lease_seconds": 60}),
    *(
        Row(
            "patch",
            PROJECT,
            expect(admin=200, lead=403),
            {budget: 10},
            why=f"budget {budget}: admins only",
        )
        for budget in ("max_human_annotations", "daily_quota_per_annotator", "max_annotator_hours")
    ),
    Row("get", PROJECT + "members/", managers(200)),
    Row(
        "post",
        PROJECT + "members/",
        managers(201),
        {"username": "{person}", "role": "annotator"},
        why="someone with an account",
    ),
    *(
        Row(
            "post",
            PROJECT + "members/",
            expect(admin=201, lead=403),
            {"username": "newbie", "role": "lead", **creates},
            why=f"a new account ({name}): admins only",
        )
        for name, creates in (
            ("one-time password", {"create_account": True}),
            ("given password", {"password": "longenough1"}),
        )
    ),
    Row("get", PROJECT + "members/stats/", managers(200)),
    Row("patch", PROJECT + "members/{membership}/", managers(200), {"role": "lead"}),
    Row(
        "patch",
        PROJECT + "members/{membership}/",
        managers(400),
        {"role": "admin"},
        why="nobody becomes admin through a project",
    ),
    Row(
        "patch",
        PROJECT + "members/{membership}/",
        managers(400),
        {"role": "admin"},
        use={"membership": "my_membership"},
        why="not even about oneself",
    ),
    Row("delete", PROJECT + "members/{membership}/", managers(204)),
    Row("get", PROJECT + "taxonomy/", members(200)),
    Row(
        "post",
        PROJECT + "taxonomy/",
        managers(409),
        {"taxonomy_csv": "a/b"},
        why="409: the project has one; versions change it",
    ),
    Row("get", PROJECT + "taxonomy/versions/", managers(200)),
    Row(
        "post",
        PROJECT + "taxonomy/versions/",
        managers(201),
        {"changes": [{"op": "rename", "path": "animal/cat", "new_name": "feline"}]},
    ),
    Row(
        "post",
        PROJECT + "taxonomy/versions/preview/",
        managers(200),
        {"changes": [{"op": "split", "path": "animal/cat", "into": ["tabby", "siamese"]}]},
        why="a dry run: writes nothing",
    ),
    Row("get", PROJECT + "taxonomy/counts/", managers(200)),
    # The labeling guide (learning/api.py).
    Row("get", PROJECT + "guide/", members(200)),
    Row("patch", PROJECT + "guide/", managers(204), {"node": "animal/cat", "definition": "A cat."}),
    Row("patch", "/api/guide-examples/{example}/", managers(200), {"pinned": True}),
    Row("get", PROJECT + "items/", members(200)),
    Row("get", PROJECT + "annotations/", members(200)),
    Row("post", PROJECT + "queue/next/", members(200)),
    Row("post", PROJECT + "queue/grid/", members(204), why="204: no model yet"),
    Row("post", PROJECT + "queue/grid/answer/", members(200), {"accept": [], "reject": []}),
    Row(
        "post",
        PROJECT + "queue/grid/answer/",
        members(400),
        {"accept": ["{lease}"]},
        why="nobody accepts with another's lease",
    ),
    Row(
        "post",
        PROJECT + "imports/",
        managers(400),
        None,
        why="400: no file, past the role check",
    ),
    Row(
        "post",
        PROJECT + "imports/",
        managers(202),
        {"file": lambda: zip_upload({"a.png": png_bytes(1)})},
        format="multipart",
        why="a real upload",
    ),
    Row("get", PROJECT + "imports/", managers(200), why="the import history"),
    Row("post", PROJECT + "predictions/", managers(400), why="400: no file, past the role check"),
    Row("post", PROJECT + "uploads/", managers(400), why="400: no Upload-Length (tus)"),
    Row("patch", "/api/uploads/{upload}/", managers(415), why="415: not a tus part"),
    Row("delete", "/api/uploads/{upload}/", managers(204), why="tus termination"),
    Row("get", PROJECT + "audit/", managers(200)),
    Row("get", PROJECT + "budget/", members(200)),
    Row("post", "/api/leases/{lease}/release/", members(204), use={"lease": "my_lease"}),
    Row(
        "post",
        "/api/leases/{lease}/release/",
        expect(admin=404),
        why="a lease is its holder's alone",
    ),
    Row("get", "/api/items/{item}/", members(200)),
    Row("get", "/api/items/{item}/image/", members(200)),
    Row("get", "/api/items/{item}/annotations/", members(200)),
    Row(
        "post",
        "/api/items/{item}/annotations/",
        members(201),
        {"node": "animal/dog", "lease": "{my_lease}"},
        use={"item": "my_item"},
    ),
    Row(
        "post",
        "/api/items/{item}/annotations/",
        members(400),
        {"node": "animal/dog", "lease": "{lease}"},
        use={"item": "leased_item"},
        why="nobody answers with another's lease",
    ),
    Row(
        "get",
        "/api/annotations/{annotation}/",
        expect(admin=200, lead=200),
        why="another annotator's answer",
    ),
    Row("get", "/api/imports/{job}/", managers(200)),
    Row("get", "/api/imports/{job}/report/", managers(200)),
    # Exports (issue 6, point 1).
    Row("get", PROJECT + "exports/", managers(200)),
    Row("post", PROJECT + "exports/", managers(202), {"format": "csv"}),
    Row("get", "/api/exports/{export}/", managers(200)),
    Row(
        "get",
        "/api/exports/{export}/download/",
        managers(409),
        why="409: still queued, past the role check",
    ),
    # The learning loop.
    Row("get", PROJECT + "training-runs/", managers(200)),
    Row("post", PROJECT + "training-runs/", managers(202)),
    Row("get", "/api/training-runs/{run}/", managers(200), why="its error is raw worker text"),
    Row("get", PROJECT + "pretrain/", managers(200)),
    Row(
        "post",
        PROJECT + "pretrain/",
        managers(400),
        {"time_budget_s": 60},
        why="400: past the role check, the default patch-kmeans cannot be pretrained",
    ),
    Row("get", PROJECT + "learning-curve/", members(200)),
    Row("get", PROJECT + "label-issues/", managers(200)),
    Row("post", "/api/label-issues/{issue}/resolve/", managers(200), {"action": "keep"}),
    Row("post", PROJECT + "auto-labels/revoke/", managers(200), {}),
    Row("get", PROJECT + "backbone/", managers(200)),
    Row("put", PROJECT + "backbone/", managers(200), {"name": "patch-kmeans"}),
    # The pages' own endpoints (frontend/api.py).
    Row(
        "post",
        "/api/annotations/{annotation}/undo/",
        expect(admin=403, lead=403),
        why="only one's own answer",
    ),
    Row("get", PROJECT + "stats/", managers(200)),
    Row("get", PROJECT + "disagreements/", managers(200)),
]


def _taxonomy(world: dict[str, Any]) -> Taxonomy:
    return Taxonomy.objects.get(project_id=world["project"])


def _build_job(world: dict[str, Any]) -> int:
    return ImportJob.objects.create(project_id=world["project"], source="x.zip").id


def _build_export(world: dict[str, Any]) -> int:
    return Export.objects.create(
        project_id=world["project"], format=Export.Format.CSV, taxonomy=_taxonomy(world)
    ).id


def _build_run(world: dict[str, Any]) -> int:
    return TrainingRun.objects.create(
        project_id=world["project"],
        trigger=TrainingRun.Trigger.MANUAL,
        state=TrainingRun.State.SUCCEEDED,
    ).id


def _build_issue(world: dict[str, Any]) -> int:
    taxonomy = _taxonomy(world)
    model = ModelVersionFactory(project=taxonomy.project, taxonomy=taxonomy)
    return LabelIssue.objects.create(
        project_id=world["project"],
        annotation_id=world["annotation"],
        model_version=model,
        suggested_node=taxonomy.nodes.get(path="animal/dog"),
        label_quality=0.05,
    ).id


def _build_example(world: dict[str, Any]) -> int:
    return GuideExample.objects.create(
        project_id=world["project"],
        node=_taxonomy(world).nodes.get(path="animal/cat"),
        item_id=world["item"],
        kind=GuideExample.Kind.TYPICAL,
    ).id


def _build_person(world: dict[str, Any]) -> str:
    """The username of someone with an account and no part in the project."""
    return UserFactory().username


def _build_upload(world: dict[str, Any]) -> str:
    return str(Upload.objects.create(project_id=world["project"], length=10).pk)


# Ids made only for the rows that name them.
ID_BUILDERS: dict[str, Callable[[dict[str, Any]], Any]] = {
    "person": _build_person,
    "job": _build_job,
    "upload": _build_upload,
    "export": _build_export,
    "run": _build_run,
    "issue": _build_issue,
    "example": _build_example,
}


@pytest.fixture
def owner(project):
    return MembershipFactory(project=project, role=Membership.Role.ANNOTATOR).user


@pytest.fixture
def actors(admin_user, lead, annotator, outsider) -> dict[str, Any]:
    return {
        "admin": admin_user,
        "lead": lead,
        "annotator": annotator,
        "outsider": outsider,
        "anonymous": None,
    }


@pytest.fixture
def world(project, owner, actors) -> dict[str, Any]:
    """The owner's answer, lease and membership; free items for the queue."""
    for seed in range(6):
        item_create(project, seed)
    annotation = answer(project=project, user=owner)
    open_lease = services.queue_next(project=project, user=owner)
    return {
        "project": project.id,
        "item": annotation.item_id,
        "annotation": annotation.id,
        "lease": open_lease.assignment.pk,
        "leased_item": open_lease.item.id,
        "membership": Membership.objects.get(project=project, user=owner).id,
    }


def _ids_for(*, row: Row, project, world: dict[str, Any], actor) -> dict[str, Any]:
    """The world's ids plus the caller's own lease and membership where they have them."""
    ids = dict(world)
    # Staff need no membership to work in a project; outsiders get nothing here.
    can_work = actor is not None and (
        actor.is_staff or project.memberships.filter(user=actor).exists()
    )
    my_lease = services.queue_next(project=project, user=actor) if can_work else None
    ids["my_lease"] = my_lease.assignment.pk if my_lease else world["lease"]
    ids["my_item"] = my_lease.item.id if my_lease else world["leased_item"]
    own = project.memberships.filter(user=actor).first() if actor else None
    ids["my_membership"] = own.id if own else world["membership"]
    named = row.route + str(row.body)
    for name, build in ID_BUILDERS.items():
        if "{" + name + "}" in named:
            ids[name] = build(world)
    for placeholder, key in row.use.items():
        ids[placeholder] = ids[key]
    return ids


def _filled(value: Any, ids: dict[str, Any]) -> Any:
    if isinstance(value, str):
        return value.format(**ids)
    if isinstance(value, list):
        return [_filled(part, ids) for part in value]
    if isinstance(value, dict):
        return {key: _filled(part, ids) for key, part in value.items()}
    return value() if callable(value) else value


@pytest.mark.django_db
@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("row", ROWS, ids=lambda row: row.id)
def test_role_matrix(row, role, project, world, actors):
    actor = actors[role]
    ids = _ids_for(row=row, project=project, world=world, actor=actor)
    url = row.route.format(**ids)
    client = client_for(actor) if actor else APIClient()
    writes = row.method != "get"
    before = stored_rows() if writes else None

    response = getattr(client, row.method)(url, _filled(row.body, ids), format=row.format)

    expected = row.expected[role]
    status = response.status_code
    shown = getattr(response, "content", b"")[:300]
    assert status == expected, (
        f"{role} {row.method.upper()} {url}: expected {expected}, got {status} {shown!r}"
    )
    if writes and not 200 <= status < 300:
        assert stored_rows() == before, f"{role} {row.method.upper()} {url} was refused but wrote"


def test_every_endpoint_and_method_has_a_row():
    covered = {(row.method, row.route) for row in ROWS}
    endpoints = api_endpoints()

    missing = sorted(f"{method.upper()} {route}" for method, route in endpoints - covered)
    stale = sorted(f"{method.upper()} {route}" for method, route in covered - endpoints)

    assert not missing, (
        "No permission rows for these endpoints; add a Row per method to ROWS in "
        "tests/annotator/test_permissions.py:\n  " + "\n  ".join(missing)
    )
    assert not stale, "Rows for endpoints that no longer exist:\n  " + "\n  ".join(stale)


def test_every_row_names_every_role():
    assert all(set(row.expected) == set(ROLES) for row in ROWS)


def test_an_outsider_gets_404_from_every_route_with_an_id():
    """Every method of every route with an id has rows, and each expects 404 of outsiders."""
    rows = [row for row in ROWS if (row.method, row.route) in api_endpoints_with_an_id()]
    assert {(row.method, row.route) for row in rows} == api_endpoints_with_an_id()
    assert {row.id: row.expected["outsider"] for row in rows} == {row.id: 404 for row in rows}
