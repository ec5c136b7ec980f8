"""A project's members: list, add (leads and admins; new accounts by admins) and each
one's figures."""

from django.utils import timezone
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.exceptions import PermissionDenied
from rest_framework.generics import ListAPIView
from rest_framework.response import Response
from rest_framework.views import APIView

from annotator import selectors
from annotator.api.common import service_call, validated
from annotator.api.serializers import MemberOutputSerializer
from annotator.models import Membership
from annotator.projects import membership_add, membership_add_with_account


class MemberListApi(ListAPIView):
    serializer_class = MemberOutputSerializer

    class InputSerializer(serializers.Serializer):
        class Meta:
            ref_name = "MemberAddInput"

        username = serializers.CharField(max_length=150)
        password = serializers.CharField(
            required=False,
            write_only=True,
            min_length=8,
            help_text="Admins: create the account with this password when there is none",
        )
        create_account = serializers.BooleanField(
            default=False,
            help_text="Admins: create the account with a one-time password, answered once",
        )
        role = serializers.ChoiceField(choices=Membership.Role.choices)

    class CreatedSerializer(MemberOutputSerializer):
        one_time_password = serializers.CharField(
            required=False,
            help_text="With create_account only: the new account's password. Only its hash "
            "is stored, so this is the one time it can be read.",
        )

        class Meta(MemberOutputSerializer.Meta):
            fields = [*MemberOutputSerializer.Meta.fields, "one_time_password"]
            ref_name = "MemberAdded"

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):  # schema generation
            return Membership.objects.none()
        project, _ = selectors.project_get_for_user(
            user=self.request.user, project_id=self.kwargs["project_id"], manage=True
        )
        return project.memberships.select_related("user").order_by("id")

    @extend_schema(request=InputSerializer, responses={201: CreatedSerializer})
    def post(self, request, project_id: int):
        project, _ = selectors.project_get_for_user(
            user=request.user, project_id=project_id, manage=True
        )
        data = validated(self.InputSerializer, request.data)
        creates = data["create_account"] or "password" in data
        if creates and not selectors.account_can_create(user=request.user):
            raise PermissionDenied("Only admins create accounts; add someone who has one.")
        if data["create_account"]:
            membership, password = service_call(
                membership_add_with_account,
                project=project,
                username=data["username"],
                role=data["role"],
                actor=request.user,
            )
            membership.one_time_password = password
        else:
            membership = service_call(
                membership_add,
                project=project,
                username=data["username"],
                role=data["role"],
                password=data.get("password"),
                actor=request.user,
            )
        return Response(self.CreatedSerializer(membership).data, status=status.HTTP_201_CREATED)


class MemberStatsApi(APIView):
    @extend_schema(
        responses=inline_serializer(
            "MemberStats",
            {
                "id": serializers.IntegerField(help_text="The membership"),
                "username": serializers.CharField(),
                "role": serializers.CharField(),
                "answers": serializers.IntegerField(help_text="Human answers in the project"),
                "hours": serializers.FloatField(
                    help_text="Time spent on those answers: from an item's showing to its answer"
                ),
                "items_per_hour": serializers.FloatField(
                    allow_null=True, help_text="answers / hours; null before any timed answer"
                ),
                "agreement": serializers.FloatField(
                    allow_null=True,
                    help_text="Share of their answers that match the final label, on items "
                    "more than one person answered; null before any such item",
                ),
                "compared": serializers.IntegerField(help_text="Those items"),
                "quota": inline_serializer(
                    "MemberQuota",
                    {
                        "daily_quota": serializers.IntegerField(allow_null=True),
                        "used_today": serializers.IntegerField(),
                        "open_leases": serializers.IntegerField(),
                        "left_today": serializers.IntegerField(allow_null=True),
                    },
                ),
            },
            many=True,
        )
    )
    def get(self, request, project_id: int):
        """Every member with answers, throughput, agreement and the quota used today."""
        project, _ = selectors.project_get_for_user(
            user=request.user, project_id=project_id, manage=True
        )
        return Response(selectors.member_stats_list(project=project, now=timezone.now()))
