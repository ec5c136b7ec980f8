"""The audit log: who changed settings, budgets, members or the taxonomy, and how.

Services call ``audit_record`` inside their own transaction, so an event exists exactly
when its change was committed.
"""

from typing import Any

from django.contrib.auth.models import AbstractBaseUser
from django.db import IntegrityError, models, transaction
from django.db.models import QuerySet

from annotator.models import AuditEvent, Project


def audit_record(
    *,
    actor: AbstractBaseUser | None,
    project: Project | None,
    action: str,
    before: dict[str, Any] | None,
    after: dict[str, Any] | None,
    target: models.Model | None = None,
    once_key: str | None = None,
) -> AuditEvent | None:
    """Record one change; ``actor`` None is the system (a script or a notice).

    With ``once_key`` the event is recorded only the first time that key is seen in the
    project, also under concurrency; then the return value tells whether it was.
    """
    if action not in AuditEvent.Action.values:
        raise ValueError(f"Unknown audit action {action!r}.")
    event = AuditEvent(
        project=project,
        actor=actor,
        actor_username=actor.get_username() if actor else "",
        action=action,
        target_type=target._meta.model_name if target is not None else "",
        target_id=str(target.pk) if target is not None else "",
        before=before,
        after=after,
        once_key=once_key,
    )
    if once_key is None:
        event.save()
        return event
    if AuditEvent.objects.filter(project=project, once_key=once_key).exists():
        return None
    try:
        # A savepoint: losing the race must not abort the caller's transaction.
        with transaction.atomic():
            event.save()
    except IntegrityError:
        return None
    return event


def audit_list(*, project: Project, action: str | None = None) -> QuerySet[AuditEvent]:
    """The project's events, newest first."""
    events = AuditEvent.objects.filter(project=project)
    if action:
        events = events.filter(action=action)
    return events.order_by("-created_at", "-id")


def changed_fields(
    *, instance: models.Model, values: dict[str, Any]
) -> tuple[dict[str, Any], dict[str, Any]]:
    """(before, after) for the fields whose value ``values`` really changes."""
    before = {
        field: getattr(instance, field)
        for field, value in values.items()
        if getattr(instance, field) != value
    }
    return before, {field: values[field] for field in before}
