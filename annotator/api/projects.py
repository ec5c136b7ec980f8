"""Projects: list, create (admins; leads too with ``ARBOR_LEADS_CREATE_PROJECTS``), read
and update settings."""

from django.conf import settings
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.exceptions import PermissionDenied
from rest_framework.generics import ListAPIView
from rest_framework.response import Response
from rest_framework.views import APIView

from annotator import selectors
from annotator.api.common import service_call, validated
from annotator.models import Project
from annotator.projects import (
    BUDGET_FIELDS,
    PROJECT_EDITABLE_FIELDS,
    project_create,
    project_update,
)


class ProjectOutputSerializer(serializers.ModelSerializer):
    class Meta:
        model = Project
        fields = ["id", "created_at", *PROJECT_EDITABLE_FIELDS]


class ProjectListApi(ListAPIView):
    serializer_class = ProjectOutputSerializer

    class InputSerializer(serializers.Serializer):
        class Meta:
            ref_name = "ProjectCreateInput"

        name = serializers.CharField(max_length=200)
        description = serializers.CharField(required=False, allow_blank=True, default="")
        taxonomy = serializers.JSONField(
            required=False, help_text="A taxonomy in the levels/tree JSON format"
        )
        taxonomy_json = serializers.CharField(
            required=False,
            help_text="The same JSON as text, read as the CLI reads a .json file "
            "(a name twice under one parent is refused)",
        )
        taxonomy_csv = serializers.CharField(
            required=False, help_text="A taxonomy as CSV rows of paths"
        )
        levels = serializers.ListField(
            child=serializers.CharField(),
            required=False,
            help_text="Level names for a CSV taxonomy (default level1..N)",
        )
        lead = serializers.CharField(
            required=False,
            allow_blank=True,
            help_text="Username of an existing user to make the project's lead",
        )

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):  # schema generation
            return Project.objects.none()
        return selectors.project_list_for_user(user=self.request.user)

    @extend_schema(request=InputSerializer, responses={201: ProjectOutputSerializer})
    def post(self, request):
        if not selectors.project_can_create(user=request.user):
            raise PermissionDenied(
                "Only admins create projects"
                + (" (and leads)." if settings.ARBOR_LEADS_CREATE_PROJECTS else ".")
            )
        data = validated(self.InputSerializer, request.data)
        project = service_call(
            project_create,
            name=data["name"],
            description=data["description"],
            created_by=request.user,
            taxonomy=data.get("taxonomy"),
            taxonomy_json=data.get("taxonomy_json"),
            taxonomy_csv=data.get("taxonomy_csv"),
            levels=data.get("levels"),
            lead=data.get("lead") or None,
        )
        return Response(ProjectOutputSerializer(project).data, status=status.HTTP_201_CREATED)


class ProjectDetailApi(APIView):
    class InputSerializer(serializers.Serializer):
        class Meta:
            ref_name = "ProjectUpdateInput"

        name = serializers.CharField(max_length=200, required=False)
        description = serializers.CharField(required=False, allow_blank=True)
        lease_seconds = serializers.IntegerField(required=False, min_value=30, max_value=86400)
        max_human_annotations = serializers.IntegerField(
            required=False, allow_null=True, min_value=0
        )
        daily_quota_per_annotator = serializers.IntegerField(
            required=False, allow_null=True, min_value=0
        )
        max_annotator_hours = serializers.FloatField(required=False, allow_null=True, min_value=0)
        annotations_per_item = serializers.IntegerField(required=False, min_value=1, max_value=10)
        # Checked by the service, which owns the list (``annotator.models.Strategy``).
        strategy = serializers.CharField(required=False, help_text="A query strategy's name")
        batch_size = serializers.IntegerField(required=False, min_value=1, max_value=10_000)
        retrain_every = serializers.IntegerField(required=False, min_value=1)
        shadow_size = serializers.IntegerField(required=False, min_value=0, max_value=100_000)
        auto_accept_enabled = serializers.BooleanField(required=False)
        auto_accept_target = serializers.FloatField(required=False, min_value=0.5, max_value=0.9999)
        audit_size = serializers.IntegerField(required=False, min_value=0, max_value=100_000)

    class OutputSerializer(ProjectOutputSerializer):
        role = serializers.CharField()
        progress = serializers.DictField()

        class Meta(ProjectOutputSerializer.Meta):
            fields = [*ProjectOutputSerializer.Meta.fields, "role", "progress"]
            ref_name = "ProjectDetail"

    def _output(self, project: Project, role: str) -> dict:
        project.role = role
        project.progress = selectors.project_progress(project=project)
        return self.OutputSerializer(project).data

    @extend_schema(responses=OutputSerializer)
    def get(self, request, project_id: int):
        project, role = selectors.project_get_for_user(user=request.user, project_id=project_id)
        return Response(self._output(project, role))

    @extend_schema(request=InputSerializer, responses=OutputSerializer)
    def patch(self, request, project_id: int):
        project, role = selectors.project_get_for_user(
            user=request.user, project_id=project_id, manage=True
        )
        data = validated(self.InputSerializer, request.data)
        sets_budget = bool(BUDGET_FIELDS & data.keys())
        if sets_budget and not selectors.project_can_set_budget(role=role):
            raise PermissionDenied("Only admins set budgets and quotas.")
        project = service_call(project_update, project=project, actor=request.user, **data)
        return Response(self._output(project, role))
