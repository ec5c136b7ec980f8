from django.urls import include, path
from rest_framework.authtoken.views import obtain_auth_token

from annotator.api import views

urlpatterns = [
    path("auth/token/", obtain_auth_token, name="auth-token"),
    path("projects/", views.ProjectListApi.as_view(), name="project-list"),
    path("projects/<int:project_id>/", views.ProjectDetailApi.as_view(), name="project-detail"),
    path(
        "projects/<int:project_id>/members/", views.MemberListApi.as_view(), name="project-members"
    ),
    path(
        "projects/<int:project_id>/taxonomy/", views.TaxonomyApi.as_view(), name="project-taxonomy"
    ),
    path("projects/<int:project_id>/items/", views.ItemListApi.as_view(), name="project-items"),
    path(
        "projects/<int:project_id>/annotations/",
        views.ProjectAnnotationListApi.as_view(),
        name="project-annotations",
    ),
    path("projects/<int:project_id>/queue/next/", views.QueueNextApi.as_view(), name="queue-next"),
    path("projects/<int:project_id>/queue/grid/", views.GridNextApi.as_view(), name="queue-grid"),
    path(
        "projects/<int:project_id>/queue/grid/answer/",
        views.GridAnswerApi.as_view(),
        name="queue-grid-answer",
    ),
    path("leases/<uuid:lease_id>/release/", views.LeaseReleaseApi.as_view(), name="lease-release"),
    path("items/<int:item_id>/", views.ItemDetailApi.as_view(), name="item-detail"),
    path("items/<int:item_id>/image/", views.ItemImageApi.as_view(), name="item-image"),
    path(
        "items/<int:item_id>/annotations/",
        views.ItemAnnotationApi.as_view(),
        name="item-annotations",
    ),
    path(
        "annotations/<int:annotation_id>/",
        views.AnnotationDetailApi.as_view(),
        name="annotation-detail",
    ),
    path("", include("annotator.api.imports")),
    path("", include("annotator.api.governance")),
    path("", include("annotator.api.exports")),
    path("", include("learning.api")),
    path("", include("frontend.api")),
]
