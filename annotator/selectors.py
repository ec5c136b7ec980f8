"""Reads. Everything a user may reach goes through an access check that answers 404."""

import datetime as dt

from django.contrib.auth.models import AbstractBaseUser
from django.db.models import Count, Q, QuerySet
from django.http import Http404
from django.utils import timezone

from annotator.models import (
    Annotation,
    Assignment,
    Export,
    ImportJob,
    Item,
    Membership,
    Project,
    Taxonomy,
    TaxonomyNode,
)
from learning.models import ModelVersion

LEAD_ROLES = (Membership.Role.LEAD,)


def project_role(*, user: AbstractBaseUser, project: Project) -> str | None:
    """'admin' for staff, the membership role, or None for an outsider."""
    if user.is_staff:
        return "admin"
    membership = Membership.objects.filter(project=project, user=user).only("role").first()
    return membership.role if membership else None


def project_list_for_user(*, user: AbstractBaseUser) -> QuerySet[Project]:
    projects = Project.objects.all()
    if not user.is_staff:
        projects = projects.filter(memberships__user=user)
    return projects.order_by("id")


def project_get_for_user(
    *, user: AbstractBaseUser, project_id: int, manage: bool = False
) -> tuple[Project, str]:
    """The project and the user's role in it; 404 for outsiders.

    With ``manage``, annotators get 404 too: they may not even learn that the
    management endpoint exists for this project.
    """
    project = Project.objects.filter(pk=project_id).first()
    role = project_role(user=user, project=project) if project else None
    if role is None or (manage and role == Membership.Role.ANNOTATOR):
        raise Http404("No such project.")
    return project, role


def project_can_manage(*, role: str) -> bool:
    return role in ("admin", Membership.Role.LEAD)


def taxonomy_current(*, project: Project) -> Taxonomy | None:
    return project.taxonomies.order_by("-version").first()


def taxonomy_nodes(*, taxonomy: Taxonomy) -> QuerySet[TaxonomyNode]:
    return taxonomy.nodes.order_by("depth", "parent_id", "position", "id")


def taxonomy_node_resolve(*, taxonomy: Taxonomy, node: int | str) -> TaxonomyNode | None:
    """A node of this taxonomy by id or by path, or None."""
    nodes = TaxonomyNode.objects.filter(taxonomy=taxonomy)
    if isinstance(node, int) or (isinstance(node, str) and node.isdigit()):
        return nodes.filter(pk=int(node)).first()
    return nodes.filter(path=str(node).strip("/")).first()


def item_get_for_user(*, user: AbstractBaseUser, item_id: int) -> Item:
    item = (
        Item.objects.select_related("project")
        .filter(pk=item_id, project__in=project_list_for_user(user=user))
        .first()
    )
    if item is None:
        raise Http404("No such item.")
    return item


def item_list(*, project: Project) -> QuerySet[Item]:
    return Item.objects.filter(project=project).order_by("id")


def annotation_list_for_user(
    *, user: AbstractBaseUser, project: Project, role: str
) -> QuerySet[Annotation]:
    """Leads and admins see every annotation of the project; annotators their own."""
    annotations = Annotation.objects.filter(project=project).select_related("node")
    if not project_can_manage(role=role):
        annotations = annotations.filter(annotator=user)
    return annotations.order_by("id")


def annotation_get_for_user(*, user: AbstractBaseUser, annotation_id: int) -> Annotation:
    annotation = (
        Annotation.objects.select_related("project", "node")
        .filter(pk=annotation_id, project__in=project_list_for_user(user=user))
        .first()
    )
    if annotation is None:
        raise Http404("No such annotation.")
    role = project_role(user=user, project=annotation.project)
    if not project_can_manage(role=role) and annotation.annotator_id != user.pk:
        raise Http404("No such annotation.")
    return annotation


def assignment_get_for_user(*, user: AbstractBaseUser, assignment_id) -> Assignment:
    assignment = Assignment.objects.filter(pk=assignment_id, annotator=user).first()
    if assignment is None:
        raise Http404("No such lease.")
    return assignment


def import_job_get_for_user(*, user: AbstractBaseUser, job_id: int) -> ImportJob:
    job = ImportJob.objects.select_related("project").filter(pk=job_id).first()
    if job is None:
        raise Http404("No such import.")
    project_get_for_user(user=user, project_id=job.project_id, manage=True)
    return job


def annotation_human_list(*, project: Project) -> QuerySet[Annotation]:
    """The project's answers by people (everything but auto-accepted labels)."""
    return Annotation.objects.filter(project=project).exclude(source=Annotation.Source.AUTO)


def project_progress(*, project: Project) -> dict:
    counts = Item.objects.filter(project=project).aggregate(
        total=Count("id"), labeled=Count("id", filter=Q(state=Item.State.LABELED))
    )
    human = annotation_human_list(project=project)
    return {
        "items": counts["total"],
        "labeled": counts["labeled"],
        "remaining": counts["total"] - counts["labeled"],
        "human_annotations": human.count(),
        "auto_annotations": Annotation.objects.filter(
            project=project, source=Annotation.Source.AUTO
        ).count(),
    }


def annotator_day_start(*, now: dt.datetime | None = None) -> dt.datetime:
    """Daily quotas reset at midnight UTC."""
    now = now or timezone.now()
    return now.astimezone(dt.UTC).replace(hour=0, minute=0, second=0, microsecond=0)


def project_learning_curve(*, project: Project) -> list[tuple[int, float]]:
    """(human labels, fine accuracy) per model version, by number of labels.

    Accuracy is measured on the random shadow sample (unbiased), else on the gold set;
    versions measured on neither are left out.
    """
    curve = []
    for labels, metrics in ModelVersion.objects.filter(project=project).values_list(
        "human_labels", "metrics"
    ):
        measured = metrics.get("shadow") or metrics.get("gold") or {}
        if "acc_fine" in measured:
            curve.append((labels, float(measured["acc_fine"])))
    return sorted(curve)


def export_get_for_user(*, user: AbstractBaseUser, export_id: int) -> Export:
    """An export of a project the user manages; 404 for annotators and outsiders."""
    export = (
        Export.objects.select_related("project", "taxonomy", "model_version")
        .filter(pk=export_id)
        .first()
    )
    if export is None:
        raise Http404("No such export.")
    project_get_for_user(user=user, project_id=export.project_id, manage=True)
    return export


def export_list(*, project: Project) -> QuerySet[Export]:
    return project.exports.select_related("taxonomy", "model_version").order_by(
        "-created_at", "-id"
    )
