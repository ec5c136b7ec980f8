"""Leads and admins: the audit log, budgets, taxonomy versions, and members one by one."""

from django.urls import path
from django_filters import rest_framework as filters
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.generics import GenericAPIView, ListAPIView
from rest_framework.response import Response
from rest_framework.views import APIView

from annotator import selectors
from annotator.api.common import service_call, validated
from annotator.api.serializers import (
    MemberOutputSerializer,
    TaxonomyChangesInputSerializer,
    TaxonomyNodeMappingSerializer,
    TaxonomyNodeSerializer,
)
from annotator.audit import audit_list
from annotator.budgets import budget_summary_for_user
from annotator.memberships import membership_get, membership_remove, membership_role_change
from annotator.models import AuditEvent, Membership, Taxonomy
from annotator.taxonomy.versions import (
    taxonomy_node_mappings,
    taxonomy_version_create,
    taxonomy_version_describe,
    taxonomy_version_list,
)


class AuditEventOutputSerializer(serializers.ModelSerializer):
    actor = serializers.CharField(source="actor_username")

    class Meta:
        model = AuditEvent
        fields = [
            "id",
            "action",
            "actor",
            "target_type",
            "target_id",
            "before",
            "after",
            "created_at",
        ]


class AuditEventFilter(filters.FilterSet):
    action = filters.ChoiceFilter(choices=AuditEvent.Action.choices)

    class Meta:
        model = AuditEvent
        fields = ["action"]


class AuditListApi(ListAPIView):
    """The project's audit log, newest first (leads and admins)."""

    serializer_class = AuditEventOutputSerializer
    filterset_class = AuditEventFilter

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):  # schema generation
            return AuditEvent.objects.none()
        project, _ = selectors.project_get_for_user(
            user=self.request.user, project_id=self.kwargs["project_id"], manage=True
        )
        return audit_list(project=project)


_Quota = inline_serializer(
    "BudgetQuota",
    {
        "daily_quota": serializers.IntegerField(allow_null=True),
        "used_today": serializers.IntegerField(),
        "open_leases": serializers.IntegerField(),
        "left_today": serializers.IntegerField(allow_null=True),
    },
)


class BudgetApi(APIView):
    class QuotaOutputSerializer(serializers.Serializer):
        class Meta:
            ref_name = "BudgetForAnnotator"

        quota = _Quota

    class OutputSerializer(QuotaOutputSerializer):
        class Meta:
            ref_name = "Budget"

        max_human_annotations = serializers.IntegerField(allow_null=True)
        used = serializers.IntegerField(help_text="Human annotations")
        open_leases = serializers.IntegerField()
        remaining = serializers.IntegerField(allow_null=True)
        percent_spent = serializers.FloatField(allow_null=True)
        notice = serializers.ChoiceField(choices=["none", "80", "100"])
        max_annotator_hours = serializers.FloatField(allow_null=True)
        annotator_hours_used = serializers.FloatField()
        forecast = inline_serializer(
            "BudgetForecast",
            {
                "at_labels": serializers.IntegerField(allow_null=True),
                "accuracy": serializers.FloatField(allow_null=True),
                "method": serializers.ChoiceField(choices=["power_law", "last_value", "none"]),
                "points": serializers.IntegerField(),
            },
        )
        annotators_today = inline_serializer(
            "BudgetAnnotatorToday",
            {"username": serializers.CharField(), "used_today": serializers.IntegerField()},
            many=True,
        )

    @extend_schema(
        responses=OutputSerializer,
        description="Annotators get their own quota only; leads and admins everything.",
    )
    def get(self, request, project_id: int):
        project, role = selectors.project_get_for_user(user=request.user, project_id=project_id)
        summary = budget_summary_for_user(project=project, user=request.user, role=role)
        if selectors.project_can_manage(role=role):
            return Response(self.OutputSerializer(summary).data)
        return Response(self.QuotaOutputSerializer(summary).data)


class TaxonomyVersionListApi(GenericAPIView):
    """Versions page like every list; each page's authors and changes are read at once."""

    class VersionSerializer(serializers.Serializer):
        class Meta:
            ref_name = "TaxonomyVersion"

        id = serializers.IntegerField()
        version = serializers.IntegerField()
        name = serializers.CharField()
        levels = serializers.ListField(child=serializers.CharField())
        nodes = serializers.IntegerField(help_text="Number of nodes")
        created_at = serializers.DateTimeField()
        created_by = serializers.CharField(allow_null=True)
        changes = serializers.ListField(child=serializers.DictField())

    class CreatedSerializer(serializers.Serializer):
        class Meta:
            ref_name = "TaxonomyVersionCreated"

        id = serializers.IntegerField()
        version = serializers.IntegerField()
        name = serializers.CharField()
        levels = serializers.ListField(child=serializers.CharField())
        nodes = TaxonomyNodeSerializer(many=True)
        mappings = TaxonomyNodeMappingSerializer(many=True)
        annotations_remapped = serializers.IntegerField()
        items_requeued = serializers.IntegerField()
        ground_truth_cleared = serializers.IntegerField()

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):  # schema generation
            return Taxonomy.objects.none()
        project, _ = selectors.project_get_for_user(
            user=self.request.user, project_id=self.kwargs["project_id"], manage=True
        )
        return taxonomy_version_list(project=project)

    @extend_schema(responses=VersionSerializer(many=True))
    def get(self, request, project_id: int):
        page = self.paginate_queryset(self.get_queryset())
        versions = taxonomy_version_describe(taxonomies=page)
        return self.get_paginated_response(self.VersionSerializer(versions, many=True).data)

    @extend_schema(request=TaxonomyChangesInputSerializer, responses={201: CreatedSerializer})
    def post(self, request, project_id: int):
        project, _ = selectors.project_get_for_user(
            user=request.user, project_id=project_id, manage=True
        )
        data = validated(TaxonomyChangesInputSerializer, request.data)
        created = service_call(
            taxonomy_version_create, project=project, actor=request.user, changes=data["changes"]
        )
        taxonomy = created.taxonomy
        output = {
            "id": taxonomy.pk,
            "version": taxonomy.version,
            "name": taxonomy.name,
            "levels": taxonomy.levels,
            "nodes": selectors.taxonomy_nodes(taxonomy=taxonomy),
            "mappings": taxonomy_node_mappings(taxonomy=taxonomy),
            "annotations_remapped": created.annotations_remapped,
            "items_requeued": created.items_requeued,
            "ground_truth_cleared": created.ground_truth_cleared,
        }
        return Response(self.CreatedSerializer(output).data, status=status.HTTP_201_CREATED)


class MemberDetailApi(APIView):
    class InputSerializer(serializers.Serializer):
        class Meta:
            ref_name = "MemberUpdateInput"

        role = serializers.ChoiceField(choices=Membership.Role.choices)

    @extend_schema(request=InputSerializer, responses=MemberOutputSerializer)
    def patch(self, request, project_id: int, membership_id: int):
        project, _ = selectors.project_get_for_user(
            user=request.user, project_id=project_id, manage=True
        )
        membership = membership_get(project=project, membership_id=membership_id)
        data = validated(self.InputSerializer, request.data)
        membership = service_call(
            membership_role_change, membership=membership, role=data["role"], actor=request.user
        )
        return Response(MemberOutputSerializer(membership).data)

    @extend_schema(request=None, responses={204: None})
    def delete(self, request, project_id: int, membership_id: int):
        project, _ = selectors.project_get_for_user(
            user=request.user, project_id=project_id, manage=True
        )
        membership = membership_get(project=project, membership_id=membership_id)
        membership_remove(membership=membership, actor=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)


urlpatterns = [
    path("projects/<int:project_id>/audit/", AuditListApi.as_view(), name="project-audit"),
    path("projects/<int:project_id>/budget/", BudgetApi.as_view(), name="project-budget"),
    path(
        "projects/<int:project_id>/taxonomy/versions/",
        TaxonomyVersionListApi.as_view(),
        name="project-taxonomy-versions",
    ),
    path(
        "projects/<int:project_id>/members/<int:membership_id>/",
        MemberDetailApi.as_view(),
        name="project-member-detail",
    ),
]
