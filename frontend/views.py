"""Page shells: each page renders its frame and hands over to an ES module that talks to
the same REST API as scripts do. Access is checked here too, so an outsider gets 404."""

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.shortcuts import render

from annotator import selectors
from annotator.models import Strategy

# (url name, title, leads and admins only) for the project navigation.
PROJECT_PAGES = [
    ("label", "Label", False),
    ("grid", "Grid", False),
    ("guide", "Guide", False),
    ("review", "Review", True),
    ("dashboard", "Dashboard", True),
    ("import", "Import", True),
    ("export", "Export", True),
    ("taxonomy", "Taxonomy", True),
    ("settings", "Settings", True),
    ("members", "Members", True),
]


@login_required
def project_list(request):
    return render(
        request,
        "frontend/projects.html",
        {
            "page": {"script": "projects"},
            "page_data": {},
            "can_create": selectors.project_can_create(user=request.user),
        },
    )


@login_required
def project_new(request):
    if not selectors.project_can_create(user=request.user):
        raise PermissionDenied("Only admins create projects.")
    return render(
        request,
        "frontend/project_new.html",
        {"page": {"script": "project_new"}, "page_data": {}},
    )


def _project_page(name: str, *, manage: bool, context=None):
    """A project page; ``context(project)`` adds what its template needs beyond the frame."""

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
                    "can_manage": can_manage,
                },
                **(context(project) if context else {}),
            },
        )

    view.__name__ = f"{name}_page"
    return view


label_page = _project_page("label", manage=False)
grid_page = _project_page("grid", manage=False)
review_page = _project_page("review", manage=True)
dashboard_page = _project_page("dashboard", manage=True)
export_page = _project_page("export", manage=True)
import_page = _project_page("import", manage=True)
settings_page = _project_page(
    "settings",
    manage=True,
    # Each strategy's label is "Name: what it picks": the option, and its line of help.
    context=lambda project: {
        "strategies": [(value, *label.split(": ", 1)) for value, label in Strategy.choices]
    },
)
taxonomy_page = _project_page("taxonomy", manage=True)
guide_page = _project_page("guide", manage=False)
members_page = _project_page("members", manage=True)
