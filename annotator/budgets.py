"""Budgets: how much human labelling is spent, what the rest will buy, and the notices.

The queue enforces budgets (``services._human_budget_left``); this module reports on
them and records the 80% and 100% notices.
"""

from typing import Any

from django.contrib.auth.models import AbstractBaseUser
from django.db import connection
from django.db.models import Count, Sum
from django.utils import timezone

from annotator import selectors
from annotator.audit import audit_record
from annotator.forecast import Forecast, accuracy_forecast
from annotator.models import AuditEvent, Project

NOTICE_THRESHOLDS = (80, 100)
# First key of the PostgreSQL advisory lock that serialises notice checks per project.
_NOTICE_LOCK_CLASS = 0x6E6F74  # "not"
_MS_PER_HOUR = 3_600_000


def _notice_key(*, threshold: int, budget: int) -> str:
    # The budget is part of the key: after an admin raises it, the notices come again.
    return f"budget.notice:{threshold}:{budget}"


def budget_notice_level(*, used: int, budget: int | None) -> str:
    """'none', '80' or '100': the highest threshold that ``used`` has reached."""
    if budget is None:
        return "none"
    reached = [t for t in NOTICE_THRESHOLDS if used * 100 >= t * budget]
    return str(reached[-1]) if reached else "none"


def budget_notices_record(*, project: Project) -> list[AuditEvent]:
    """Record a ``budget.notice`` event for each threshold newly reached; call after a submit.

    Each threshold is noticed once per budget value, also when many annotators submit at
    once: the check of a threshold within reach is serialised per project (an advisory
    lock, so the queue's row locks are never waited on) and the event's ``once_key`` is
    unique in the database.
    """
    budget = project.max_human_annotations
    if budget is None:
        return []
    keys = {t: _notice_key(threshold=t, budget=budget) for t in NOTICE_THRESHOLDS}
    recorded = set(
        AuditEvent.objects.filter(project=project, once_key__in=keys.values()).values_list(
            "once_key", flat=True
        )
    )
    pending = [t for t in NOTICE_THRESHOLDS if keys[t] not in recorded]
    if not pending:
        return []
    # Submissions still in flight hold open leases; only when those could carry the
    # count over a threshold is the exact, serialised count needed.
    in_reach = (
        selectors.annotation_human_list(project=project).count()
        + selectors.assignment_open_list(project=project, now=timezone.now()).count()
    )
    if in_reach * 100 < pending[0] * budget:
        return []
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s, %s)", [_NOTICE_LOCK_CLASS, project.pk])
    # Counted after the lock: the previous holder's annotation is committed and visible.
    used = selectors.annotation_human_list(project=project).count()
    events = []
    for threshold in pending:
        if used * 100 < threshold * budget:
            break
        event = audit_record(
            actor=None,
            project=project,
            action=AuditEvent.Action.BUDGET_NOTICE,
            before=None,
            after={"threshold": threshold, "used": used, "max_human_annotations": budget},
            target=project,
            once_key=keys[threshold],
        )
        if event is not None:
            events.append(event)
    return events


def _percent(used: int, budget: int) -> float:
    return 100.0 if budget == 0 else round(100 * used / budget, 1)


def budget_summary_for_user(
    *, project: Project, user: AbstractBaseUser, role: str
) -> dict[str, Any]:
    """The caller's quota; for leads and admins also the project budget and its forecast."""
    now = timezone.now()
    summary: dict[str, Any] = {
        "quota": selectors.annotator_quota(project=project, user=user, now=now)
    }
    if not selectors.project_can_manage(role=role):
        return summary

    human = selectors.annotation_human_list(project=project)
    totals = human.aggregate(used=Count("id"), duration_ms=Sum("duration_ms"))
    used = totals["used"]
    open_leases = selectors.assignment_open_list(project=project, now=now).count()
    budget = project.max_human_annotations
    curve = selectors.project_learning_curve(project=project)
    # Without a budget there is no end to forecast at.
    forecast = (
        accuracy_forecast(curve, at_labels=budget)
        if budget is not None
        else Forecast(accuracy=None, method="none", points=len(curve))
    )
    today = (
        human.filter(created_at__gte=selectors.annotator_day_start(now=now))
        .values("annotator__username")
        .annotate(used_today=Count("id"))
        .order_by("annotator__username")
    )
    summary.update(
        {
            "max_human_annotations": budget,
            "used": used,
            "open_leases": open_leases,
            "remaining": None if budget is None else max(budget - used - open_leases, 0),
            "percent_spent": None if budget is None else _percent(used, budget),
            "notice": budget_notice_level(used=used, budget=budget),
            "max_annotator_hours": project.max_annotator_hours,
            "annotator_hours_used": (totals["duration_ms"] or 0) / _MS_PER_HOUR,
            "forecast": {
                "at_labels": budget,
                "accuracy": forecast.accuracy,
                "method": forecast.method,
                "points": forecast.points,
            },
            "annotators_today": [
                {"username": row["annotator__username"], "used_today": row["used_today"]}
                for row in today
            ],
        }
    )
    return summary
