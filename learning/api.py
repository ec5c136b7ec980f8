"""REST endpoints of the loop: training runs, the learning curve, label review, revocation."""

from django.urls import path
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.exceptions import ValidationError
from rest_framework.response import Response
from rest_framework.views import APIView

from annotator.api.common import service_call, validated
from annotator.api.serializers import NodeField
from annotator.selectors import project_get_for_user
from learning import selectors, services
from learning.models import LabelIssue, TrainingRun


class TrainingRunOutputSerializer(serializers.ModelSerializer):
    model_version = serializers.IntegerField(
        source="model_version.version", allow_null=True, default=None
    )

    class Meta:
        model = TrainingRun
        fields = [
            "id",
            "project",
            "state",
            "trigger",
            "human_labels",
            "attempts",
            "model_version",
            "created_at",
            "started_at",
            "finished_at",
            "timings",
            "error",
        ]


class TrainingRunListApi(APIView):
    @extend_schema(responses=TrainingRunOutputSerializer(many=True))
    def get(self, request, project_id: int):
        project, _ = project_get_for_user(user=request.user, project_id=project_id, manage=True)
        runs = selectors.training_run_list(project=project)[:100]
        return Response(TrainingRunOutputSerializer(runs, many=True).data)

    @extend_schema(
        request=None,
        responses={202: TrainingRunOutputSerializer, 200: TrainingRunOutputSerializer},
    )
    def post(self, request, project_id: int):
        """Ask for a retrain; answers the run already queued or running if there is one."""
        project, _ = project_get_for_user(user=request.user, project_id=project_id, manage=True)
        run, created = services.training_run_request(
            project=project, trigger=TrainingRun.Trigger.MANUAL, requested_by=request.user
        )
        return Response(
            TrainingRunOutputSerializer(run).data,
            status=status.HTTP_202_ACCEPTED if created else status.HTTP_200_OK,
        )


class TrainingRunDetailApi(APIView):
    @extend_schema(responses=TrainingRunOutputSerializer)
    def get(self, request, run_id: int):
        run = selectors.training_run_get_for_user(user=request.user, run_id=run_id)
        return Response(TrainingRunOutputSerializer(run).data)


class LearningCurveApi(APIView):
    @extend_schema(
        responses=inline_serializer(
            "LearningCurvePoint",
            {
                "model_version": serializers.IntegerField(),
                "created_at": serializers.DateTimeField(),
                "human_labels": serializers.IntegerField(),
                "shadow": serializers.JSONField(allow_null=True),
                "gold": serializers.JSONField(allow_null=True),
                "cascade": serializers.JSONField(allow_null=True),
            },
            many=True,
        )
    )
    def get(self, request, project_id: int):
        project, _ = project_get_for_user(user=request.user, project_id=project_id)
        return Response(selectors.learning_curve(project=project))


class LabelIssueOutputSerializer(serializers.ModelSerializer):
    item = serializers.IntegerField(source="annotation.item_id")
    given_node = serializers.CharField(source="annotation.node.path")
    annotator = serializers.CharField(
        source="annotation.annotator.username", allow_null=True, default=None
    )
    suggested_node_path = serializers.CharField(source="suggested_node.path")
    model_version = serializers.IntegerField(source="model_version.version")

    class Meta:
        model = LabelIssue
        fields = [
            "id",
            "item",
            "annotation",
            "given_node",
            "annotator",
            "suggested_node",
            "suggested_node_path",
            "label_quality",
            "model_version",
            "state",
            "resolution",
            "created_at",
            "resolved_at",
        ]


class LabelIssueListApi(APIView):
    @extend_schema(responses=LabelIssueOutputSerializer(many=True))
    def get(self, request, project_id: int):
        project, _ = project_get_for_user(user=request.user, project_id=project_id, manage=True)
        issues = selectors.label_issue_list(project=project)
        state = request.query_params.get("state", LabelIssue.State.OPEN)
        if state not in LabelIssue.State.values:
            raise ValidationError({"detail": f"state must be one of {LabelIssue.State.values}."})
        return Response(
            LabelIssueOutputSerializer(issues.filter(state=state)[:200], many=True).data
        )


class LabelIssueResolveApi(APIView):
    class InputSerializer(serializers.Serializer):
        class Meta:
            ref_name = "LabelIssueResolveInput"

        action = serializers.ChoiceField(choices=["keep", "correct"])
        node = NodeField(required=False)

    @extend_schema(request=InputSerializer, responses=LabelIssueOutputSerializer)
    def post(self, request, issue_id: int):
        selectors.label_issue_get_for_user(user=request.user, issue_id=issue_id)
        data = validated(self.InputSerializer, request.data)
        issue = service_call(
            services.label_issue_resolve,
            issue_id=issue_id,
            user=request.user,
            action=data["action"],
            node=data.get("node"),
        )
        return Response(LabelIssueOutputSerializer(issue).data)


class AutoLabelRevokeApi(APIView):
    class InputSerializer(serializers.Serializer):
        class Meta:
            ref_name = "AutoLabelRevokeInput"

        model_version = serializers.IntegerField(required=False, allow_null=True, min_value=1)

    @extend_schema(
        request=InputSerializer,
        responses=inline_serializer("AutoLabelRevoked", {"revoked": serializers.IntegerField()}),
    )
    def post(self, request, project_id: int):
        project, _ = project_get_for_user(user=request.user, project_id=project_id, manage=True)
        data = validated(self.InputSerializer, request.data)
        revoked = services.auto_labels_revoke(
            project=project, actor=request.user, model_version=data.get("model_version")
        )
        return Response({"revoked": revoked})


urlpatterns = [
    path(
        "projects/<int:project_id>/training-runs/",
        TrainingRunListApi.as_view(),
        name="project-training-runs",
    ),
    path("training-runs/<int:run_id>/", TrainingRunDetailApi.as_view(), name="training-run-detail"),
    path(
        "projects/<int:project_id>/learning-curve/",
        LearningCurveApi.as_view(),
        name="project-learning-curve",
    ),
    path(
        "projects/<int:project_id>/label-issues/",
        LabelIssueListApi.as_view(),
        name="project-label-issues",
    ),
    path(
        "label-issues/<int:issue_id>/resolve/",
        LabelIssueResolveApi.as_view(),
        name="label-issue-resolve",
    ),
    path(
        "projects/<int:project_id>/auto-labels/revoke/",
        AutoLabelRevokeApi.as_view(),
        name="project-auto-labels-revoke",
    ),
]
