"""Logins resist guessing (django-axes); API tokens expire and can be revoked."""

from datetime import timedelta

import pytest
from django.http import HttpRequest
from django.test import Client
from django.utils import timezone
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from annotator.auth import client_ip
from tests.factories import PASSWORD, UserFactory


@pytest.fixture
def throttled(settings):
    """Login throttling as deployed (the test settings switch it off for Client.login)."""
    settings.AXES_ENABLED = True
    return settings


def _web_login(path: str):
    def log_in(username: str, password: str) -> int:
        return Client().post(path, {"username": username, "password": password}).status_code

    return log_in


def _token_login(username: str, password: str) -> int:
    body = {"username": username, "password": password}
    return APIClient().post("/api/auth/token/", body, format="json").status_code


# Where one logs in: (log in, status of a login, status of a wrong password).
LOGINS = {
    "/login/": (_web_login("/login/"), 302, 200),
    "/admin/login/": (_web_login("/admin/login/"), 302, 200),
    "/api/auth/token/": (_token_login, 200, 400),
}


@pytest.mark.django_db
@pytest.mark.parametrize("where", LOGINS)
def test_wrong_passwords_lock_the_user_out_but_not_another(throttled, where):
    log_in, ok, wrong = LOGINS[where]
    target, bystander = UserFactory(is_staff=True), UserFactory(is_staff=True)
    limit = throttled.AXES_FAILURE_LIMIT

    refusals = [log_in(target.username, "guess") for _ in range(limit)]

    assert refusals == [wrong] * (limit - 1) + [429]
    assert log_in(target.username, PASSWORD) == 429
    assert log_in(bystander.username, PASSWORD) == ok


@pytest.mark.django_db
def test_a_locked_out_token_request_says_why_and_when_to_retry(throttled):
    user = UserFactory()
    for _ in range(throttled.AXES_FAILURE_LIMIT):
        _token_login(user.username, "guess")

    response = APIClient().post(
        "/api/auth/token/", {"username": user.username, "password": PASSWORD}, format="json"
    )

    assert response.status_code == 429
    assert response.json()["detail"].startswith("Account locked: too many login attempts.")
    assert int(response["Retry-After"]) == throttled.AXES_COOLOFF_TIME.total_seconds()
    assert not Token.objects.filter(user=user).exists()


@pytest.mark.django_db
def test_a_successful_login_clears_the_count(throttled):
    user = UserFactory()
    for _ in range(2):
        for _ in range(throttled.AXES_FAILURE_LIMIT - 1):
            assert _token_login(user.username, "typo") == 400
        assert _token_login(user.username, PASSWORD) == 200


@pytest.mark.django_db
def test_behind_a_proxy_the_lockout_is_for_the_client_address_it_forwards(throttled):
    throttled.ARBOR_TRUSTED_PROXIES = 1
    user = UserFactory()

    def log_in(client_address: str, password: str) -> int:
        # The client wrote the first entry itself; the proxy appended the second.
        forwarded = f"10.9.9.9, {client_address}"
        body = {"username": user.username, "password": password}
        return (
            APIClient().post("/api/auth/token/", body, HTTP_X_FORWARDED_FOR=forwarded).status_code
        )

    for _ in range(throttled.AXES_FAILURE_LIMIT):
        log_in("203.0.113.7", "guess")

    assert log_in("203.0.113.7", PASSWORD) == 429
    assert log_in("198.51.100.4", PASSWORD) == 200


@pytest.mark.parametrize(
    ("proxies", "forwarded", "seen"),
    [
        (0, "203.0.113.7", "192.0.2.1"),  # no proxy: the header is the client's own
        (1, "10.9.9.9, 203.0.113.7", "203.0.113.7"),
        (2, "10.9.9.9, 203.0.113.7, 192.0.2.50", "203.0.113.7"),
        (2, "203.0.113.7", "192.0.2.1"),  # too short for two proxies
        (1, "10.9.9.9, not-an-address", "192.0.2.1"),
        (1, None, "192.0.2.1"),
    ],
)
def test_client_ip_trusts_only_what_the_proxies_appended(settings, proxies, forwarded, seen):
    settings.ARBOR_TRUSTED_PROXIES = proxies
    request = HttpRequest()
    request.META["REMOTE_ADDR"] = "192.0.2.1"
    if forwarded is not None:
        request.META["HTTP_X_FORWARDED_FOR"] = forwarded
    assert client_ip(request) == seen


@pytest.mark.django_db
def test_an_expired_token_is_refused_and_a_login_issues_a_new_one(settings):
    user = UserFactory()
    old = Token.objects.create(user=user)
    Token.objects.filter(pk=old.pk).update(
        created=timezone.now() - timedelta(hours=settings.ARBOR_TOKEN_TTL_HOURS, seconds=1)
    )
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {old.key}")

    refused = client.get("/api/projects/")
    login = APIClient().post(
        "/api/auth/token/", {"username": user.username, "password": PASSWORD}, format="json"
    )

    assert refused.status_code == 401
    assert "expired" in refused.json()["detail"]
    assert login.status_code == 200 and login.json()["token"] != old.key
    client.credentials(HTTP_AUTHORIZATION=f"Token {login.json()['token']}")
    assert client.get("/api/projects/").status_code == 200


@pytest.mark.django_db
def test_a_login_within_the_lifetime_returns_the_same_token():
    user = UserFactory()
    body = {"username": user.username, "password": PASSWORD}
    first = APIClient().post("/api/auth/token/", body, format="json").json()["token"]
    second = APIClient().post("/api/auth/token/", body, format="json").json()["token"]
    assert first == second


@pytest.mark.django_db
def test_revoking_a_token_ends_it(api):
    user = UserFactory()
    client = api(user)
    other = api(UserFactory())

    revoked = client.post("/api/auth/token/revoke/")

    assert revoked.status_code == 204
    assert client.get("/api/projects/").status_code == 401
    assert other.get("/api/projects/").status_code == 200
