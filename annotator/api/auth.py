"""Tokens for scripts: log in for one, revoke it."""

from axes.helpers import get_cool_off, get_lockout_message
from django.contrib.auth.signals import user_logged_in
from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.authtoken.views import ObtainAuthToken
from rest_framework.exceptions import Throttled, ValidationError
from rest_framework.response import Response
from rest_framework.views import APIView

from annotator import auth


class TokenApi(ObtainAuthToken):
    def post(self, request, *args, **kwargs):
        serializer = self.get_serializer(data=request.data)
        if not serializer.is_valid():
            # django-axes marks the request it refused (or just locked out); its
            # middleware sees only Django's request, not DRF's, so answer here.
            if getattr(request, "axes_locked_out", False):
                raise Throttled(
                    wait=get_cool_off(request).total_seconds(), detail=str(get_lockout_message())
                )
            raise ValidationError(serializer.errors)
        user = serializer.validated_data["user"]
        # A login like any other: it records last_login and clears axes' failure count.
        user_logged_in.send(sender=type(user), request=request, user=user)
        token = auth.token_issue(user=user)
        return Response({"token": token.key})


class TokenRevokeApi(APIView):
    @extend_schema(request=None, responses={204: None})
    def post(self, request):
        auth.token_revoke(user=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)
