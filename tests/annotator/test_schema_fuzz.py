"""Schemathesis over the OpenAPI schema (/api/schema/), in process: every operation with
generated input, as a lead of a project with items and as an outsider, answers no 5xx."""

import pytest
import schemathesis
from django.core.signals import request_finished, request_started
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections
from hypothesis import HealthCheck, Phase, given, settings
from rest_framework.authtoken.models import Token
from schemathesis.checks import not_a_server_error

from annotator.models import Membership
from tests.factories import MembershipFactory, item_create

# Resumable uploads (tus) send their chunks as plain bytes.
schemathesis.serializer.alias("application/offset+octet-stream", "application/octet-stream")

# Examples per operation: about 60 operations, two people each, in well under a minute.
EXAMPLES = 10


@pytest.fixture
def api_schema(db):
    # As Django's test client does: a request must not close the connection that holds
    # the test's transaction.
    for signal in (request_started, request_finished):
        signal.disconnect(close_old_connections)
    yield schemathesis.openapi.from_wsgi("/api/schema/", get_wsgi_application())
    for signal in (request_started, request_finished):
        signal.connect(close_old_connections)


@pytest.fixture
def tokens(project, lead, outsider):
    for seed in range(3):
        item_create(project, seed)
    MembershipFactory(project=project, role=Membership.Role.ANNOTATOR)
    return [Token.objects.create(user=user).key for user in (lead, outsider)]


@pytest.mark.slow
def test_no_operation_answers_a_server_error(api_schema, tokens):
    failures = []
    for result in api_schema.get_all_operations():
        operation = result.ok()

        @given(case=operation.as_strategy())
        @settings(
            max_examples=EXAMPLES,
            deadline=None,
            derandomize=True,
            database=None,
            phases=[Phase.explicit, Phase.generate],  # bounded: no shrinking
            suppress_health_check=list(HealthCheck),
        )
        def answers_no_5xx(case):
            for token in tokens:
                case.call_and_validate(
                    headers={"Authorization": f"Token {token}"}, checks=[not_a_server_error]
                )

        try:
            answers_no_5xx()
        except Exception as error:  # every operation's failure, not only the first
            failures.append(f"{operation.label}: {error}")
    assert not failures, "\n\n".join(failures)
