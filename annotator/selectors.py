"""Reads. Everything a user may reach goes through an access check that answers 404."""

import datetime as dt
from collections import Counter
from collections.abc import Iterator
from itertools import groupby
from operator import itemgetter

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.db.models import Count, Q, QuerySet, Sum
from django.http import Http404
from django.utils import timezone

from annotator.consensus import HUMAN_SOURCES, Vote, final_label
from annotator.models import (
    Annotation,
    Assignment,
    Export,
    ImportJob,
    Item,
    Membership,
    ModelVersion,
    Project,
    Taxonomy,
    TaxonomyNode,
    TaxonomyNodeMapping,
    Upload,
)


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


def project_can_create(*, user: AbstractBaseUser) -> bool:
    """Admins; and, with ``ARBOR_LEADS_CREATE_PROJECTS``, whoever leads a project."""
    if user.is_staff:
        return True
    return settings.ARBOR_LEADS_CREATE_PROJECTS and (
        Membership.objects.filter(user=user, role=Membership.Role.LEAD).exists()
    )


def account_can_create(*, user: AbstractBaseUser) -> bool:
    """Accounts are the whole site's, so only admins make them (a lead adds existing ones)."""
    return user.is_staff


def project_can_set_budget(*, role: str) -> bool:
    """Budgets and quotas (``projects.BUDGET_FIELDS``) are for admins; leads set the rest."""
    return role == "admin"


def annotation_can_undo(*, user: AbstractBaseUser, annotation: Annotation) -> bool:
    return annotation.annotator_id == user.pk


def taxonomy_current(*, project: Project) -> Taxonomy | None:
    return project.taxonomies.order_by("-version").first()


def taxonomy_nodes(*, taxonomy: Taxonomy) -> QuerySet[TaxonomyNode]:
    return taxonomy.nodes.order_by("depth", "parent_id", "position", "id")


def taxonomy_node_resolve(*, taxonomy: Taxonomy, node: int | str) -> TaxonomyNode | None:
    """A node of this taxonomy by id or by path, or None; an id of an older version of the
    project's taxonomy gives the node it became (``taxonomy_node_follow``)."""
    followed = taxonomy_node_follow(taxonomy=taxonomy, node=node)
    return followed[0] if followed else None


def taxonomy_node_follow(
    *, taxonomy: Taxonomy, node: int | str
) -> tuple[TaxonomyNode, bool] | None:
    """The node of this taxonomy named by a path, or by the id of a node of the project:
    one of this version, or of an older one, followed through each later version's
    ``TaxonomyNodeMapping``. With it, whether a split on the way made it coarser (the
    split leaf's parent). None for a node of another project, or one with no way here
    (a taxonomy uploaded anew).

    Clients hold ids from before a change: the predictions of a model trained on an
    older version, a page loaded before it. Their answers still count.
    """
    if not (isinstance(node, int) or (isinstance(node, str) and node.isdigit())):
        found = TaxonomyNode.objects.filter(taxonomy=taxonomy, path=str(node).strip("/")).first()
        return (found, False) if found else None
    found = (
        TaxonomyNode.objects.filter(pk=int(node), taxonomy__project_id=taxonomy.project_id)
        .select_related("taxonomy")
        .first()
    )
    if found is None or found.taxonomy.version > taxonomy.version:
        return None
    mappings = TaxonomyNodeMapping.objects.filter(
        taxonomy__project_id=taxonomy.project_id
    ).select_related("new_node")
    coarsened = False
    for version in range(found.taxonomy.version + 1, taxonomy.version + 1):
        mapping = mappings.filter(taxonomy__version=version, old_node=found).first()
        if mapping is None:
            return None
        found = mapping.new_node
        coarsened |= mapping.kind == TaxonomyNodeMapping.Kind.COARSENED
    return found, coarsened


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


def import_job_list(*, project: Project) -> QuerySet[ImportJob]:
    """The project's import history, newest first: who imported what, and what came of it."""
    return project.import_jobs.select_related("created_by").order_by("-created_at", "-id")


def upload_get_for_user(*, user: AbstractBaseUser, upload_id) -> Upload:
    """A resumable upload into a project the user manages; 404 for everyone else."""
    upload = Upload.objects.select_related("project").filter(pk=upload_id).first()
    if upload is None:
        raise Http404("No such upload.")
    project_get_for_user(user=user, project_id=upload.project_id, manage=True)
    return upload


def annotation_human_list(*, project: Project) -> QuerySet[Annotation]:
    """The project's answers by people (everything but auto-accepted labels)."""
    return Annotation.objects.filter(project=project, source__in=HUMAN_SOURCES)


def model_version_latest(*, project: Project) -> ModelVersion | None:
    """The project's newest model: the one whose predictions the queue shows."""
    return project.model_versions.order_by("-version").first()


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


def assignment_open_list(*, project: Project, now: dt.datetime) -> QuerySet[Assignment]:
    """Leases still running: each may become an answer, so budgets count them as spent."""
    return Assignment.objects.filter(
        project=project, state=Assignment.State.ACTIVE, expires_at__gt=now
    )


def annotator_quota(*, project: Project, user: AbstractBaseUser, now: dt.datetime) -> dict:
    """The user's daily quota as the queue counts it: open leases count as spent.

    The one count of it: the queue refuses a lease when ``left_today`` is 0, and the
    budget page shows the same figures.
    """
    used_today = (
        annotation_human_list(project=project)
        .filter(annotator=user, created_at__gte=annotator_day_start(now=now))
        .count()
    )
    open_leases = assignment_open_list(project=project, now=now).filter(annotator=user).count()
    quota = project.daily_quota_per_annotator
    return {
        "daily_quota": quota,
        "used_today": used_today,
        "open_leases": open_leases,
        "left_today": None if quota is None else max(quota - used_today - open_leases, 0),
    }


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
    return project.exports.select_related("taxonomy", "model_version", "created_by").order_by(
        "-created_at", "-id"
    )


def annotation_counts_by_source(*, project: Project) -> dict[str, int]:
    counts = dict.fromkeys(Annotation.Source.values, 0)
    rows = Annotation.objects.filter(project=project).values("source").annotate(n=Count("id"))
    counts.update({row["source"]: row["n"] for row in rows})
    return counts


# Votes read per round trip when they are streamed.
VOTE_CHUNK_SIZE = 2000


def _votes_per_item(
    annotations: QuerySet[Annotation],
) -> Iterator[tuple[int, list[tuple[str, Vote]]]]:
    """Each item with its (annotator, vote) pairs, oldest first, as the consensus rule
    reads them. Streamed item by item (a server-side cursor read in chunks): memory holds
    one chunk, not every vote of the project."""
    rows = (
        annotations.order_by("item_id", "created_at", "id")
        .values_list("item_id", "annotator__username", "node__path", "source", "created_at")
        .iterator(chunk_size=VOTE_CHUNK_SIZE)
    )
    for item_id, group in groupby(rows, key=itemgetter(0)):
        yield item_id, [(row[1], Vote(*row[2:])) for row in group]


def annotator_stats_list(*, project: Project) -> list[dict]:
    """Answers, labeling hours, items per hour and agreement with the final label.

    Agreement is measured only on items that more than one person answered: elsewhere
    the final label is the person's own answer.
    """
    human = annotation_human_list(project=project)
    totals = (
        human.values("annotator__username")
        .annotate(answers=Count("id"), duration=Sum("duration_ms"))
        .order_by("annotator__username")
    )
    overlapped = human.values("item_id").annotate(n=Count("id")).filter(n__gte=2).values("item_id")
    agreed, compared = Counter(), Counter()
    for _, answers in _votes_per_item(human.filter(item_id__in=overlapped)):
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


def member_stats_list(*, project: Project, now: dt.datetime) -> list[dict]:
    """Every member with their role, the ``annotator_stats_list`` figures (zero before
    their first answer) and their daily quota (``annotator_quota``)."""
    stats = {row["username"]: row for row in annotator_stats_list(project=project)}
    rows = []
    for membership in project.memberships.select_related("user").order_by("id"):
        username = membership.user.get_username()
        figures = stats.get(username) or {
            "answers": 0,
            "hours": 0.0,
            "items_per_hour": None,
            "agreement": None,
            "compared": 0,
        }
        rows.append(
            {
                **figures,
                "id": membership.pk,
                "username": username,
                "role": membership.role,
                "quota": annotator_quota(project=project, user=membership.user, now=now),
            }
        )
    return rows


def annotation_disagreement_list(*, project: Project, limit: int) -> list[dict]:
    """Items whose human answers differ, newest first, with the final label they give."""
    human = annotation_human_list(project=project)
    split = list(
        human.values("item_id")
        .annotate(nodes=Count("node", distinct=True))
        .filter(nodes__gte=2)
        .order_by("-item_id")
        .values_list("item_id", flat=True)[:limit]
    )
    answers = dict(_votes_per_item(human.filter(item_id__in=split)))
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
    return rows
