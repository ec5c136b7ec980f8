"""The small endpoints the pages need beyond the labeling contract: undo, dashboard stats,
disagreements for review.

The model's confusion is not here: the learning curve serves it per model version.
"""

from collections import Counter, defaultdict

from django.db.models import Count, Sum
from django.urls import path
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.exceptions import PermissionDenied
from rest_framework.response import Response
from rest_framework.views import APIView

from annotator import selectors, services
from annotator.api.common import service_call
from annotator.consensus import Vote, final_label
from annotator.models import Annotation


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
        if annotation.annotator_id != request.user.pk:
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


def _labels_by_source(project) -> dict[str, int]:
    counts = dict.fromkeys(Annotation.Source.values, 0)
    rows = Annotation.objects.filter(project=project).values("source").annotate(n=Count("id"))
    counts.update({row["source"]: row["n"] for row in rows})
    return counts


def _votes_by_item(annotations) -> dict[int, list[tuple[str, Vote]]]:
    """(annotator, vote) per item, oldest first, as the consensus rule reads them."""
    votes = defaultdict(list)
    for item_id, username, node_path, source, created_at in annotations.order_by(
        "created_at"
    ).values_list("item_id", "annotator__username", "node__path", "source", "created_at"):
        votes[item_id].append((username, Vote(node_path, source, created_at)))
    return votes


def _annotators(project) -> list[dict]:
    """Answers, labeling hours, items per hour and agreement with the final label.

    Agreement is measured only on items that more than one person answered: elsewhere
    the final label is the person's own answer.
    """
    human = selectors.annotation_human_list(project=project)
    totals = (
        human.values("annotator__username")
        .annotate(answers=Count("id"), duration=Sum("duration_ms"))
        .order_by("annotator__username")
    )
    overlapped = human.values("item_id").annotate(n=Count("id")).filter(n__gte=2).values("item_id")
    agreed, compared = Counter(), Counter()
    for answers in _votes_by_item(human.filter(item_id__in=overlapped)).values():
        label = final_label(vote for _, vote in answers)
        for username, vote in answers:
            compared[username] += 1
            agreed[username] += vote.path == label.path
    rows = []
    for row in totals:
        username = row["annotator__username"]
        hours = (row["duration"] or 0) / 3_600_000
        rows.append(
            {
                "username": username,
                "answers": row["answers"],
                "hours": round(hours, 3),
                "items_per_hour": round(row["answers"] / hours, 1) if hours else None,
                "agreement": agreed[username] / compared[username] if compared[username] else None,
                "compared": compared[username],
            }
        )
    return rows


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
                "labels_by_source": _labels_by_source(project),
                "annotators": _annotators(project),
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
        human = selectors.annotation_human_list(project=project)
        split = list(
            human.values("item_id")
            .annotate(nodes=Count("node", distinct=True))
            .filter(nodes__gte=2)
            .order_by("-item_id")
            .values_list("item_id", flat=True)[: self.LIMIT]
        )
        answers = _votes_by_item(human.filter(item_id__in=split))
        rows = []
        for item_id in split:
            label = final_label(vote for _, vote in answers[item_id])
            rows.append(
                {
                    "item": item_id,
                    "answers": [
                        {"annotator": username, "path": vote.path, "created_at": vote.created_at}
                        for username, vote in answers[item_id]
                    ],
                    "label": label.path,
                    "agreement": label.final_agreement,
                }
            )
        return Response(rows)


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
