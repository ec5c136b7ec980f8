import ipaddress
import socket

import pytest
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from annotator.models import Membership
from tests.factories import MembershipFactory, ProjectFactory, UserFactory, taxonomy_build

_real_connect = socket.socket.connect


def _is_local(address) -> bool:
    if not isinstance(address, tuple):  # Unix sockets
        return True
    host = address[0]
    if host in ("localhost", ""):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class NetworkBlocked(OSError):
    pass


def _guarded_connect(self, address):
    if not _is_local(address):
        raise NetworkBlocked(f"test tried to reach {address!r}; only localhost is allowed")
    return _real_connect(self, address)


@pytest.fixture(autouse=True, scope="session")
def _localhost_only():
    """Nothing in the suite may reach the network beyond this machine."""
    socket.socket.connect = _guarded_connect
    yield
    socket.socket.connect = _real_connect


@pytest.fixture
def project(db):
    project = ProjectFactory()
    taxonomy_build(project)
    return project


@pytest.fixture
def admin_user(db):
    return UserFactory(is_staff=True, username="admin")


@pytest.fixture
def lead(project):
    return MembershipFactory(project=project, role=Membership.Role.LEAD).user


@pytest.fixture
def annotator(project):
    return MembershipFactory(project=project, role=Membership.Role.ANNOTATOR).user


@pytest.fixture
def outsider(db):
    """Member of another project only: sees nothing of ``project``."""
    return MembershipFactory(role=Membership.Role.LEAD).user


def client_for(user) -> APIClient:
    client = APIClient()
    token, _ = Token.objects.get_or_create(user=user)
    client.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")
    return client


@pytest.fixture
def api():
    """``api(user)`` gives a token-authenticated client."""
    return client_for
