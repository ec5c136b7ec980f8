"""Page shells: each page renders its frame and hands over to an ES module that talks to
the same REST API as scripts do. Access is checked here too, so an outsider gets 404."""

from django.contrib.auth.decorators import login_required
from django.shortcuts import render

from annotator import selectors

# (url name, title, leads and admins only) for the project navigation.
PROJECT_PAGES = [
    ("label", "Label", False),
    ("grid", "Grid", False),
    ("review", "Review", True),
    ("dashboard", "Dashboard", True),
    ("export", "Export", True),
    ("settings", "Settings", True),
]


@login_required
def project_list(request):
    return render(
        request,
        "frontend/projects.html",
        {"page": {"script": "projects"}, "page_data": {}},
    )


def _project_page(name: str, *, manage: bool):
    @login_required
    def view(request, project_id: int):
        project, role = selectors.project_get_for_user(
            user=request.user, project_id=project_id, manage=manage
        )
        can_manage = selectors.project_can_manage(role=role)
        navigation = [
            (page, title)
            for page, title, managers_only in PROJECT_PAGES
            if can_manage or not managers_only
        ]
        return render(
            request,
            f"frontend/{name}.html",
            {
                "project": project,
                "navigation": navigation,
                "current": name,
                "page": {"script": name},
                "page_data": {
                    "project": project.pk,
                    "user": request.user.username,
                    "is_admin": role == "admin",
                },
            },
        )

    view.__name__ = f"{name}_page"
    return view


label_page = _project_page("label", manage=False)
grid_page = _project_page("grid", manage=False)
review_page = _project_page("review", manage=True)
dashboard_page = _project_page("dashboard", manage=True)
export_page = _project_page("export", manage=True)
settings_page = _project_page("settings", manage=True)
