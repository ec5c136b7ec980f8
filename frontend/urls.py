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
    path("projects/<int:project_id>/label/", views.label_page, name="label"),
    path("projects/<int:project_id>/grid/", views.grid_page, name="grid"),
    path("projects/<int:project_id>/review/", views.review_page, name="review"),
    path("projects/<int:project_id>/dashboard/", views.dashboard_page, name="dashboard"),
    path("projects/<int:project_id>/export/", views.export_page, name="export"),
    path("projects/<int:project_id>/settings/", views.settings_page, name="settings"),
]
