"""Annotations: submit and list an item's, list a project's, read one."""

from django_filters import rest_framework as filters
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.generics import ListAPIView
from rest_framework.response import Response
from rest_framework.views import APIView

from annotator import selectors, services
from annotator.api.common import service_call, validated
from annotator.api.serializers import NodeField
from annotator.consensus import HUMAN_SOURCES
from annotator.models import Annotation


class AnnotationOutputSerializer(serializers.ModelSerializer):
    node_path = serializers.CharField(source="node.path")
    lease = serializers.UUIDField(source="assignment_id", allow_null=True)

    class Meta:
        model = Annotation
        fields = [
            "id",
            "item",
            "annotator",
            "node",
            "node_path",
            "source",
            "lease",
            "prediction",
            "model_version",
            "duration_ms",
            "idempotency_key",
            "created_at",
        ]


class ItemAnnotationApi(APIView):
    class InputSerializer(serializers.Serializer):
        class Meta:
            ref_name = "AnnotationSubmitInput"

        node = NodeField()
        lease = serializers.UUIDField()
        idempotency_key = serializers.CharField(max_length=100, required=False, allow_blank=True)
        duration_ms = serializers.IntegerField(
            required=False, allow_null=True, min_value=0, max_value=86_400_000
        )
        source = serializers.ChoiceField(choices=sorted(HUMAN_SOURCES), required=False)

    @extend_schema(responses=AnnotationOutputSerializer(many=True))
    def get(self, request, item_id: int):
        item = selectors.item_get_for_user(user=request.user, item_id=item_id)
        role = selectors.project_role(user=request.user, project=item.project)
        annotations = selectors.annotation_list_for_user(
            user=request.user, project=item.project, role=role
        ).filter(item=item)
        return Response(AnnotationOutputSerializer(annotations, many=True).data)

    @extend_schema(
        request=InputSerializer,
        responses={201: AnnotationOutputSerializer, 200: AnnotationOutputSerializer},
    )
    def post(self, request, item_id: int):
        item = selectors.item_get_for_user(user=request.user, item_id=item_id)
        data = validated(self.InputSerializer, request.data)
        submission = service_call(
            services.annotation_submit,
            item=item,
            user=request.user,
            node=data["node"],
            lease_id=data["lease"],
            idempotency_key=data.get("idempotency_key") or None,
            duration_ms=data.get("duration_ms"),
            source=data.get("source"),
        )
        return Response(
            AnnotationOutputSerializer(submission.annotation).data,
            status=status.HTTP_200_OK if submission.replayed else status.HTTP_201_CREATED,
        )


class AnnotationFilter(filters.FilterSet):
    source = filters.ChoiceFilter(choices=Annotation.Source.choices)
    item = filters.NumberFilter(field_name="item_id")
    ordering = filters.OrderingFilter(fields=("id", "created_at"))

    class Meta:
        model = Annotation
        fields = ["source", "item"]


class ProjectAnnotationListApi(ListAPIView):
    serializer_class = AnnotationOutputSerializer
    filterset_class = AnnotationFilter

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):  # schema generation
            return Annotation.objects.none()
        project, role = selectors.project_get_for_user(
            user=self.request.user, project_id=self.kwargs["project_id"]
        )
        return selectors.annotation_list_for_user(
            user=self.request.user, project=project, role=role
        )


class AnnotationDetailApi(APIView):
    @extend_schema(responses=AnnotationOutputSerializer)
    def get(self, request, annotation_id: int):
        annotation = selectors.annotation_get_for_user(
            user=request.user, annotation_id=annotation_id
        )
        return Response(AnnotationOutputSerializer(annotation).data)
