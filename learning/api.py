"""REST endpoints of the loop: training runs, the learning curve, label review, revocation,
and the labeling guide."""

from django.urls import path
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.exceptions import ValidationError
from rest_framework.generics import ListAPIView
from rest_framework.response import Response
from rest_framework.views import APIView

from annotator.api.common import service_call, validated
from annotator.api.serializers import NodeField, TaxonomyNodeSerializer
from annotator.models import ModelVersion
from annotator.selectors import project_get_for_user
from learning import embeddings, pretraining, selectors, services
from learning.guide import (
    guide_definition_set,
    guide_example_describe,
    guide_example_get_for_user,
    guide_example_update,
    guide_read,
)
from learning.models import LabelIssue, PretrainRun, TrainingRun


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


class PretrainRunOutputSerializer(serializers.ModelSerializer):
    class Meta:
        model = PretrainRun
        fields = [
            "id",
            "project",
            "state",
            "method",
            "backbone",
            "start_weights",
            "time_budget_s",
            "weights",
            "stats",
            "attempts",
            "created_at",
            "started_at",
            "finished_at",
            "error",
        ]


class PretrainApi(ListAPIView):
    """Training of the project's backbone (leads): SimCLR on its own images, or a
    fine-tune on its human labels."""

    serializer_class = PretrainRunOutputSerializer

    class InputSerializer(serializers.Serializer):
        time_budget_s = serializers.IntegerField(
            help_text="Seconds the training may take (ARBOR_PRETRAIN_MAX_SECONDS at most)"
        )
        method = serializers.ChoiceField(
            choices=PretrainRun.Method.choices, default=PretrainRun.Method.SIMCLR
        )

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):  # schema generation
            return PretrainRun.objects.none()
        project, _ = project_get_for_user(
            user=self.request.user, project_id=self.kwargs["project_id"], manage=True
        )
        return selectors.pretrain_run_list(project=project)

    @extend_schema(
        request=InputSerializer,
        responses={202: PretrainRunOutputSerializer, 200: PretrainRunOutputSerializer},
    )
    def post(self, request, project_id: int):
        """Queue a pretraining; answers the run already queued or running if there is one.
        When it succeeds the project uses its weights, and they are embedded again."""
        project, _ = project_get_for_user(user=request.user, project_id=project_id, manage=True)
        data = validated(self.InputSerializer, request.data)
        run, created = service_call(
            pretraining.pretrain_run_request,
            project=project,
            requested_by=request.user,
            time_budget_s=data["time_budget_s"],
            method=data["method"],
        )
        return Response(
            PretrainRunOutputSerializer(run).data,
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
        fields = [
            "model_version",
            "created_at",
            "human_labels",
            "source",
            "backbone",
            "backbone_weights",
            "shadow",
            "gold",
            "cascade",
        ]
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


_GuideExample = inline_serializer(
    "GuideExample",
    {
        "id": serializers.IntegerField(),
        "item": serializers.IntegerField(),
        "image_url": serializers.CharField(),
        "pinned": serializers.BooleanField(),
    },
)


class GuideApi(APIView):
    class OutputSerializer(serializers.Serializer):
        class Meta:
            ref_name = "GuideNode"

        node = TaxonomyNodeSerializer()
        definition = serializers.CharField(allow_blank=True)
        examples = serializers.ListField(child=_GuideExample)
        confused_with = inline_serializer(
            "GuideConfusion",
            {
                "node": serializers.IntegerField(),
                "path": serializers.CharField(),
                "confusions": serializers.IntegerField(),
                "example": _GuideExample,
            },
            many=True,
        )

    class InputSerializer(serializers.Serializer):
        class Meta:
            ref_name = "GuideDefinitionInput"

        node = NodeField()
        definition = serializers.CharField(max_length=2000, allow_blank=True)

    @extend_schema(responses=OutputSerializer(many=True))
    def get(self, request, project_id: int):
        """Per node of the current taxonomy: its definition, typical examples, and the
        classes the latest model confuses it with, each with an example."""
        project, _ = project_get_for_user(user=request.user, project_id=project_id)
        return Response(self.OutputSerializer(guide_read(project=project), many=True).data)

    @extend_schema(request=InputSerializer, responses={204: None})
    def patch(self, request, project_id: int):
        """Write one node's definition (leads and admins)."""
        project, _ = project_get_for_user(user=request.user, project_id=project_id, manage=True)
        data = validated(self.InputSerializer, request.data)
        service_call(
            guide_definition_set,
            project=project,
            node=data["node"],
            text=data["definition"],
            actor=request.user,
        )
        return Response(status=status.HTTP_204_NO_CONTENT)


class GuideExampleApi(APIView):
    class InputSerializer(serializers.Serializer):
        class Meta:
            ref_name = "GuideExampleInput"

        pinned = serializers.BooleanField(required=False)
        removed = serializers.BooleanField(required=False)

    @extend_schema(request=InputSerializer, responses=_GuideExample)
    def patch(self, request, example_id: int):
        """Pin an example (it stays through refreshes) or remove it (never chosen again)."""
        example = guide_example_get_for_user(user=request.user, example_id=example_id)
        data = validated(self.InputSerializer, request.data)
        example = service_call(guide_example_update, example=example, **data)
        return Response(guide_example_describe(example))


class BackboneOutputSerializer(serializers.Serializer):
    class Meta:
        ref_name = "ProjectBackbone"

    name = serializers.CharField()
    weights = serializers.CharField(help_text="A file in ARBOR_WEIGHTS_DIR; blank: standard")
    embedded = serializers.IntegerField(help_text="Items with an embedding under it")
    total = serializers.IntegerField()
    choices = serializers.ListField(child=serializers.DictField(), required=False)


class BackboneApi(APIView):
    """The project's backbone and how far its embeddings are; leads change it."""

    class InputSerializer(serializers.Serializer):
        class Meta:
            ref_name = "ProjectBackboneInput"

        name = serializers.CharField(max_length=200)
        weights = serializers.CharField(max_length=255, required=False, allow_blank=True)

    @extend_schema(responses=BackboneOutputSerializer)
    def get(self, request, project_id: int):
        """``?choices=1`` adds the backbones to choose from (this loads torch once)."""
        project, _ = project_get_for_user(user=request.user, project_id=project_id, manage=True)
        body = embeddings.embeddings_progress(project=project)
        if request.query_params.get("choices"):
            body["choices"] = embeddings.backbone_choices()
        return Response(BackboneOutputSerializer(body).data)

    @extend_schema(request=InputSerializer, responses=BackboneOutputSerializer)
    def put(self, request, project_id: int):
        project, _ = project_get_for_user(user=request.user, project_id=project_id, manage=True)
        data = validated(self.InputSerializer, request.data)
        service_call(
            embeddings.backbone_choice_set,
            project=project,
            name=data["name"],
            weights=data.get("weights", ""),
            actor=request.user,
        )
        body = embeddings.embeddings_progress(project=project)
        return Response(BackboneOutputSerializer(body).data)


urlpatterns = [
    path("projects/<int:project_id>/backbone/", BackboneApi.as_view(), name="project-backbone"),
    path(
        "projects/<int:project_id>/training-runs/",
        TrainingRunListApi.as_view(),
        name="project-training-runs",
    ),
    path("training-runs/<int:run_id>/", TrainingRunDetailApi.as_view(), name="training-run-detail"),
    path("projects/<int:project_id>/pretrain/", PretrainApi.as_view(), name="project-pretrain"),
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
    path("projects/<int:project_id>/guide/", GuideApi.as_view(), name="project-guide"),
    path("guide-examples/<int:example_id>/", GuideExampleApi.as_view(), name="guide-example"),
    path(
        "projects/<int:project_id>/auto-labels/revoke/",
        AutoLabelRevokeApi.as_view(),
        name="project-auto-labels-revoke",
    ),
]
