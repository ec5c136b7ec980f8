"""PostgreSQL restarts while four people label through gunicorn, whose connections are
persistent (DATABASE_CONN_MAX_AGE=60): clients send again what failed, with the same
idempotency key, and no answer is lost or stored twice. Once the database is back, the
dead pooled connections cost no further error (they are checked before reuse)."""

import threading
import time
import uuid
from dataclasses import dataclass, field

import psycopg
import pytest
from rest_framework.authtoken.models import Token

from annotator.models import Membership
from annotator.selectors import taxonomy_current
from tests.factories import MembershipFactory, items_bulk_create
from tests.processes import PostgresCluster, WebServer, wait_for

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

PEOPLE, ANSWERS_EACH = 4, 12


@dataclass
class Session:
    """What one person's client saw."""

    stored: dict[str, int] = field(default_factory=dict)  # key -> annotation id
    failures: list[tuple[float, str]] = field(default_factory=list)  # (request start, why)
    replays: int = 0


def _call(web, session: Session, *arguments, **options):
    """Send until the server answers below 500, as the labeling page's retry queue does."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        started = time.monotonic()
        try:
            status, body = web.call(*arguments, **options)
        except OSError as error:
            session.failures.append((started, repr(error)))
        else:
            if status < 500:
                return status, body
            session.failures.append((started, str(status)))
        time.sleep(0.2)
    raise AssertionError(f"no answer within a minute: {session.failures[-3:]}")


def _label(web, project_id: int, leaf: int, token: str, session: Session) -> None:
    while len(session.stored) < ANSWERS_EACH:
        status, lease = _call(
            web, session, "POST", f"/api/projects/{project_id}/queue/next/", token=token
        )
        assert status == 200, lease
        key = uuid.uuid4().hex
        body = {"node": leaf, "lease": lease["lease"]["id"], "idempotency_key": key}
        item = lease["item"]["id"]
        status, stored = _call(
            web, session, "POST", f"/api/items/{item}/annotations/", token=token, body=body
        )
        assert status in (200, 201), stored
        session.replays += status == 200
        session.stored[key] = stored["id"]


def test_database_restart_loses_and_doubles_no_answer(project, tmp_path):
    leaf = taxonomy_current(project=project).nodes.filter(is_leaf=True).first().pk
    items_bulk_create(project, range(200))
    tokens = [
        Token.objects.create(
            user=MembershipFactory(project=project, role=Membership.Role.ANNOTATOR).user
        ).key
        for _ in range(PEOPLE)
    ]
    cluster = PostgresCluster()
    try:
        url = cluster.copy_of_test_database("arbor")
        web = WebServer(
            tmp_path / "web.log",
            environment={"DATABASE_URL": url, "DATABASE_CONN_MAX_AGE": "60", "DEBUG": "false"},
        )
        sessions = [Session() for _ in tokens]
        clients = [
            threading.Thread(target=_label, args=(web, project.pk, leaf, token, session))
            for token, session in zip(tokens, sessions, strict=True)
        ]
        for client in clients:
            client.start()
        wait_for(lambda: sum(len(s.stored) for s in sessions) >= PEOPLE * 3, 60, "answers")
        restart_began = time.monotonic()
        cluster.restart()
        back = time.monotonic()
        for client in clients:
            client.join()
        web.stop()
        with psycopg.connect(url) as database:
            rows = database.execute(
                "SELECT idempotency_key, id, item_id FROM annotator_annotation"
            ).fetchall()
    finally:
        cluster.remove()

    stored = {key: pk for session in sessions for key, pk in session.stored.items()}
    assert len(stored) == PEOPLE * ANSWERS_EACH
    # Every answer a client was told is stored is there, once, and there is nothing else.
    assert {key: pk for key, pk, _ in rows} == stored
    assert len(rows) == len({item for _, _, item in rows})
    failures = [failure for session in sessions for failure in session.failures]
    # Once the database was back, the pooled connections to the old server cost nothing.
    assert [failure for failure in failures if failure[0] > back] == []
    replays = sum(session.replays for session in sessions)
    print(
        f"restart took {back - restart_began:.1f} s; {len(failures)} requests failed and were "
        f"sent again; {replays} answers were replays of a stored one"
    )
