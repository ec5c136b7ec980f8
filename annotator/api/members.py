"""A project's members: list and add (leads and admins)."""

from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.generics import ListAPIView
from rest_framework.response import Response

from annotator import selectors, services
from annotator.api.common import service_call, validated
from annotator.api.serializers import MemberOutputSerializer
from annotator.models import Membership


class MemberListApi(ListAPIView):
    serializer_class = MemberOutputSerializer

    class InputSerializer(serializers.Serializer):
        class Meta:
            ref_name = "MemberAddInput"

        username = serializers.CharField(max_length=150)
        password = serializers.CharField(required=False, write_only=True, min_length=8)
        role = serializers.ChoiceField(choices=Membership.Role.choices)

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):  # schema generation
            return Membership.objects.none()
        project, _ = selectors.project_get_for_user(
            user=self.request.user, project_id=self.kwargs["project_id"], manage=True
        )
        return project.memberships.select_related("user").order_by("id")

    @extend_schema(request=InputSerializer, responses={201: MemberOutputSerializer})
    def post(self, request, project_id: int):
        project, _ = selectors.project_get_for_user(
            user=request.user, project_id=project_id, manage=True
        )
        data = validated(self.InputSerializer, request.data)
        membership = service_call(
            services.membership_add,
            project=project,
            username=data["username"],
            role=data["role"],
            password=data.get("password"),
            actor=request.user,
        )
        return Response(MemberOutputSerializer(membership).data, status=status.HTTP_201_CREATED)
