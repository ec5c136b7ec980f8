from django.contrib.auth import views as auth_views
from django.urls import path

from frontend import views

app_name = "frontend"

urlpatterns = [
    path(
        "login/",
        auth_views.LoginView.as_view(template_name="frontend/login.html"),
        name="login",
    ),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("", views.project_list, name="projects"),
    path("projects/new/", views.project_new, name="project_new"),
    path("projects/<int:project_id>/label/", views.label_page, name="label"),
    path("projects/<int:project_id>/grid/", views.grid_page, name="grid"),
    path("projects/<int:project_id>/review/", views.review_page, name="review"),
    path("projects/<int:project_id>/dashboard/", views.dashboard_page, name="dashboard"),
    path("projects/<int:project_id>/export/", views.export_page, name="export"),
    path("projects/<int:project_id>/import/", views.import_page, name="import"),
    path("projects/<int:project_id>/settings/", views.settings_page, name="settings"),
    path("projects/<int:project_id>/taxonomy/", views.taxonomy_page, name="taxonomy"),
    path("projects/<int:project_id>/guide/", views.guide_page, name="guide"),
    path("projects/<int:project_id>/members/", views.members_page, name="members"),
]
