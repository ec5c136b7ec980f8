"""The small endpoints the pages need beyond the labeling contract: undo, dashboard stats,
disagreements for review.

The model's confusion is not here: the learning curve serves it per model version.
"""

from django.urls import path
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.exceptions import PermissionDenied
from rest_framework.response import Response
from rest_framework.views import APIView

from annotator import selectors, services
from annotator.api.common import service_call


class AnnotationUndoApi(APIView):
    @extend_schema(
        request=None,
        responses=inline_serializer(
            "AnnotationUndone",
            {
                "item": serializers.IntegerField(),
                "lease": inline_serializer(
                    "UndoneLease",
                    {"id": serializers.UUIDField(), "expires_at": serializers.DateTimeField()},
                ),
            },
        ),
    )
    def post(self, request, annotation_id: int):
        """Take back one's own answer while its lease holds; the lease is active again."""
        annotation = selectors.annotation_get_for_user(
            user=request.user, annotation_id=annotation_id
        )
        if not selectors.annotation_can_undo(user=request.user, annotation=annotation):
            raise PermissionDenied("Only your own answers can be undone.")
        assignment = service_call(
            services.annotation_undo, annotation=annotation, user=request.user
        )
        return Response(
            {
                "item": assignment.item_id,
                "lease": {"id": assignment.pk, "expires_at": assignment.expires_at},
            }
        )


class ProjectStatsApi(APIView):
    @extend_schema(
        responses=inline_serializer(
            "ProjectStats",
            {
                "labels_by_source": serializers.DictField(child=serializers.IntegerField()),
                "annotators": serializers.ListField(child=serializers.DictField()),
            },
        )
    )
    def get(self, request, project_id: int):
        """Labels by source, and annotator throughput and agreement."""
        project, _ = selectors.project_get_for_user(
            user=request.user, project_id=project_id, manage=True
        )
        return Response(
            {
                "labels_by_source": selectors.annotation_counts_by_source(project=project),
                "annotators": selectors.annotator_stats_list(project=project),
            }
        )


class DisagreementListApi(APIView):
    LIMIT = 100

    @extend_schema(
        responses=inline_serializer(
            "Disagreement",
            {
                "item": serializers.IntegerField(),
                "answers": serializers.ListField(child=serializers.DictField()),
                "label": serializers.CharField(),
                "agreement": serializers.FloatField(),
            },
            many=True,
        )
    )
    def get(self, request, project_id: int):
        """Items whose human answers differ, newest first, with the final label they give."""
        project, _ = selectors.project_get_for_user(
            user=request.user, project_id=project_id, manage=True
        )
        return Response(selectors.annotation_disagreement_list(project=project, limit=self.LIMIT))


urlpatterns = [
    path(
        "annotations/<int:annotation_id>/undo/",
        AnnotationUndoApi.as_view(),
        name="annotation-undo",
    ),
    path("projects/<int:project_id>/stats/", ProjectStatsApi.as_view(), name="project-stats"),
    path(
        "projects/<int:project_id>/disagreements/",
        DisagreementListApi.as_view(),
        name="project-disagreements",
    ),
]
