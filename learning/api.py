"""REST endpoints of the loop: training runs, the learning curve, label review, revocation."""

from django.urls import path
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.exceptions import ValidationError
from rest_framework.generics import ListAPIView
from rest_framework.response import Response
from rest_framework.views import APIView

from annotator.api.common import service_call, validated
from annotator.api.serializers import NodeField
from annotator.models import ModelVersion
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


class TrainingRunListApi(ListAPIView):
    serializer_class = TrainingRunOutputSerializer

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):  # schema generation
            return TrainingRun.objects.none()
        project, _ = project_get_for_user(
            user=self.request.user, project_id=self.kwargs["project_id"], manage=True
        )
        return selectors.training_run_list(project=project)

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


class LearningCurvePointSerializer(serializers.ModelSerializer):
    """A model version's accuracy per level against the human labels it had."""

    model_version = serializers.IntegerField(source="version")
    # What the run measured; null when it measured no such thing.
    shadow = serializers.JSONField(source="metrics.shadow", allow_null=True, default=None)
    gold = serializers.JSONField(source="metrics.gold", allow_null=True, default=None)
    cascade = serializers.JSONField(source="metrics.cascade", allow_null=True, default=None)

    class Meta:
        model = ModelVersion
        fields = ["model_version", "created_at", "human_labels", "shadow", "gold", "cascade"]
        ref_name = "LearningCurvePoint"


class LearningCurveApi(ListAPIView):
    """Oldest model version first; ``?page=last`` ends with the latest."""

    serializer_class = LearningCurvePointSerializer

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):  # schema generation
            return ModelVersion.objects.none()
        project, _ = project_get_for_user(
            user=self.request.user, project_id=self.kwargs["project_id"]
        )
        return selectors.learning_curve(project=project)


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


class LabelIssueListApi(ListAPIView):
    serializer_class = LabelIssueOutputSerializer

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):  # schema generation
            return LabelIssue.objects.none()
        project, _ = project_get_for_user(
            user=self.request.user, project_id=self.kwargs["project_id"], manage=True
        )
        state = self.request.query_params.get("state", LabelIssue.State.OPEN)
        if state not in LabelIssue.State.values:
            raise ValidationError({"detail": f"state must be one of {LabelIssue.State.values}."})
        return selectors.label_issue_list(project=project).filter(state=state)


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
