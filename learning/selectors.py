"""Reads of the learning side, scoped like the annotation side's: outsiders get 404."""

from django.contrib.auth.models import AbstractBaseUser
from django.db.models import QuerySet
from django.http import Http404

from annotator.models import ModelVersion, Project
from annotator.selectors import project_get_for_user
from learning.models import LabelIssue, TrainingRun


def training_run_list(*, project: Project) -> QuerySet[TrainingRun]:
    return project.training_runs.order_by("-created_at")


def training_run_get_for_user(*, user: AbstractBaseUser, run_id: int) -> TrainingRun:
    run = TrainingRun.objects.filter(pk=run_id).first()
    if run is None:
        raise Http404("No such training run.")
    project_get_for_user(user=user, project_id=run.project_id)
    return run


def learning_curve(*, project: Project) -> list[dict]:
    """Accuracy per level of every model version against the human labels it had."""
    return [
        {
            "model_version": version.version,
            "created_at": version.created_at,
            "human_labels": version.human_labels,
            "shadow": version.metrics.get("shadow"),
            "gold": version.metrics.get("gold"),
            "cascade": version.metrics.get("cascade"),
        }
        for version in ModelVersion.objects.filter(project=project).order_by("version")
    ]


def label_issue_list(*, project: Project) -> QuerySet[LabelIssue]:
    return LabelIssue.objects.filter(project=project).select_related(
        "annotation__node", "annotation__annotator", "suggested_node", "model_version"
    )


def label_issue_get_for_user(*, user: AbstractBaseUser, issue_id: int) -> LabelIssue:
    issue = LabelIssue.objects.select_related("project", "annotation").filter(pk=issue_id).first()
    if issue is None:
        raise Http404("No such label issue.")
    project_get_for_user(user=user, project_id=issue.project_id, manage=True)
    return issue
