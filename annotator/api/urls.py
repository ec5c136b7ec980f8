from django.urls import include, path

from annotator.api import annotations, auth, items, members, projects, queue, taxonomy

urlpatterns = [
    path("auth/token/", auth.TokenApi.as_view(), name="auth-token"),
    path("auth/token/revoke/", auth.TokenRevokeApi.as_view(), name="auth-token-revoke"),
    path("projects/", projects.ProjectListApi.as_view(), name="project-list"),
    path("projects/<int:project_id>/", projects.ProjectDetailApi.as_view(), name="project-detail"),
    path(
        "projects/<int:project_id>/members/",
        members.MemberListApi.as_view(),
        name="project-members",
    ),
    path(
        "projects/<int:project_id>/members/stats/",
        members.MemberStatsApi.as_view(),
        name="project-member-stats",
    ),
    path(
        "projects/<int:project_id>/taxonomy/",
        taxonomy.TaxonomyApi.as_view(),
        name="project-taxonomy",
    ),
    path(
        "projects/<int:project_id>/taxonomy/counts/",
        taxonomy.TaxonomyCountsApi.as_view(),
        name="project-taxonomy-counts",
    ),
    path(
        "projects/<int:project_id>/taxonomy/versions/preview/",
        taxonomy.TaxonomyPreviewApi.as_view(),
        name="project-taxonomy-preview",
    ),
    path("projects/<int:project_id>/items/", items.ItemListApi.as_view(), name="project-items"),
    path(
        "projects/<int:project_id>/annotations/",
        annotations.ProjectAnnotationListApi.as_view(),
        name="project-annotations",
    ),
    path("projects/<int:project_id>/queue/next/", queue.QueueNextApi.as_view(), name="queue-next"),
    path("projects/<int:project_id>/queue/grid/", queue.GridNextApi.as_view(), name="queue-grid"),
    path(
        "projects/<int:project_id>/queue/grid/answer/",
        queue.GridAnswerApi.as_view(),
        name="queue-grid-answer",
    ),
    path("leases/<uuid:lease_id>/release/", queue.LeaseReleaseApi.as_view(), name="lease-release"),
    path("items/<int:item_id>/", items.ItemDetailApi.as_view(), name="item-detail"),
    path("items/<int:item_id>/image/", items.ItemImageApi.as_view(), name="item-image"),
    path(
        "items/<int:item_id>/annotations/",
        annotations.ItemAnnotationApi.as_view(),
        name="item-annotations",
    ),
    path(
        "annotations/<int:annotation_id>/",
        annotations.AnnotationDetailApi.as_view(),
        name="annotation-detail",
    ),
    path("", include("annotator.api.imports")),
    path("", include("annotator.api.uploads")),
    path("", include("annotator.api.governance")),
    path("", include("annotator.api.exports")),
    path("", include("learning.api")),
    path("", include("frontend.api")),
]
