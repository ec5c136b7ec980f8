"""Reads of the learning side, scoped like the annotation side's: outsiders get 404."""

from django.contrib.auth.models import AbstractBaseUser
from django.db.models import QuerySet
from django.http import Http404

from annotator.models import ModelVersion, Project
from annotator.selectors import project_get_for_user
from learning.models import LabelIssue, PretrainRun, TrainingRun


def training_run_list(*, project: Project) -> QuerySet[TrainingRun]:
    return project.training_runs.select_related("model_version").order_by("-created_at", "-id")


def pretrain_run_list(*, project: Project) -> QuerySet[PretrainRun]:
    return project.pretrain_runs.order_by("-created_at", "-id")


def training_run_get_for_user(*, user: AbstractBaseUser, run_id: int) -> TrainingRun:
    """A run of a project the user manages; 404 for annotators too, as its list is.

    A run's error is a worker's raw exception text: not for annotators.
    """
    run = TrainingRun.objects.filter(pk=run_id).first()
    if run is None:
        raise Http404("No such training run.")
    project_get_for_user(user=user, project_id=run.project_id, manage=True)
    return run


def learning_curve(*, project: Project) -> QuerySet[ModelVersion]:
    """Every model version, oldest first: its metrics hold its accuracy per level."""
    return ModelVersion.objects.filter(project=project).order_by("version")


def label_issue_list(*, project: Project) -> QuerySet[LabelIssue]:
    return (
        LabelIssue.objects.filter(project=project)
        .select_related(
            "annotation__node", "annotation__annotator", "suggested_node", "model_version"
        )
        .order_by("label_quality", "id")  # a total order, for stable pages
    )


def label_issue_get_for_user(*, user: AbstractBaseUser, issue_id: int) -> LabelIssue:
    issue = LabelIssue.objects.select_related("project", "annotation").filter(pk=issue_id).first()
    if issue is None:
        raise Http404("No such label issue.")
    project_get_for_user(user=user, project_id=issue.project_id, manage=True)
    return issue
