"""Logins: API tokens that expire, and the client's address that throttling counts by.

DRF's ``DEFAULT_AUTHENTICATION_CLASSES`` imports this module, so it must not import
``rest_framework.views`` (that would import the setting back while it is being read).
"""

import ipaddress
from datetime import datetime, timedelta

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.http import HttpRequest
from django.utils import timezone
from rest_framework.authentication import TokenAuthentication
from rest_framework.authtoken.models import Token
from rest_framework.exceptions import AuthenticationFailed


def _oldest_valid() -> datetime:
    return timezone.now() - timedelta(hours=settings.ARBOR_TOKEN_TTL_HOURS)


class ExpiringTokenAuthentication(TokenAuthentication):
    def authenticate_credentials(self, key):
        user, token = super().authenticate_credentials(key)
        if token.created <= _oldest_valid():
            raise AuthenticationFailed("Token has expired. Ask for a new one at /api/auth/token/.")
        return user, token


def token_issue(*, user: AbstractBaseUser) -> Token:
    """The user's token: the current one, or a new one in place of an expired one."""
    Token.objects.filter(user=user, created__lte=_oldest_valid()).delete()
    token, _ = Token.objects.get_or_create(user=user)
    return token


def token_revoke(*, user: AbstractBaseUser) -> None:
    Token.objects.filter(user=user).delete()


def client_ip(request: HttpRequest) -> str | None:
    """The address the outermost of ``ARBOR_TRUSTED_PROXIES`` proxies saw the client at.

    Each proxy appends the address it was called from to X-Forwarded-For, so the entry
    that many places from the end is the client's; anything before it the client may have
    written itself. Without proxies, or with a header too short to hold that entry, it is
    the connection's address.
    """
    hops = settings.ARBOR_TRUSTED_PROXIES
    forwarded = request.META.get("HTTP_X_FORWARDED_FOR", "").split(",")
    if hops and len(forwarded) >= hops:
        try:
            return str(ipaddress.ip_address(forwarded[-hops].strip()))
        except ValueError:
            pass  # not an address (a misconfigured proxy count): fall back
    return request.META.get("REMOTE_ADDR")
