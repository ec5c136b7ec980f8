"""Changing and ending memberships (adding one is ``projects.membership_add``, which
changes the role through ``membership_role_change`` when the person is already a member)."""

from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.http import Http404

from annotator.audit import audit_record
from annotator.exceptions import InvalidInput
from annotator.models import Assignment, AuditEvent, Item, Membership, Project


def membership_get(*, project: Project, membership_id: int) -> Membership:
    """A membership of this project; 404 for one of another project."""
    membership = (
        Membership.objects.select_related("user").filter(pk=membership_id, project=project).first()
    )
    if membership is None:
        raise Http404("No such member.")
    return membership


def membership_role_change(
    *, membership: Membership, role: str, actor: AbstractBaseUser | None
) -> Membership:
    # Admin is Django staff, not a membership role: nobody becomes admin through a project.
    if role not in Membership.Role.values:
        raise InvalidInput(
            f"Unknown role {role!r}; use one of {', '.join(Membership.Role.values)}."
        )
    with transaction.atomic():
        current = Membership.objects.select_for_update().get(pk=membership.pk)
        if current.role != role:
            Membership.objects.filter(pk=membership.pk).update(role=role)
            audit_record(
                actor=actor,
                project=membership.project,
                action=AuditEvent.Action.MEMBER_ROLE_CHANGE,
                before={"username": membership.user.get_username(), "role": current.role},
                after={"username": membership.user.get_username(), "role": role},
                target=membership,
            )
    membership.role = role
    return membership


def membership_remove(*, membership: Membership, actor: AbstractBaseUser | None) -> None:
    """End the membership; the user's open leases end too, so their items go back.

    Their annotations stay: they were made with the right to make them.
    """
    with transaction.atomic():
        leases = Assignment.objects.filter(
            project=membership.project, annotator=membership.user, state=Assignment.State.ACTIVE
        )
        Item.objects.filter(pk__in=leases.values("item_id")).update(lease_expires_at=None)
        leases.update(state=Assignment.State.RELEASED)
        audit_record(
            actor=actor,
            project=membership.project,
            action=AuditEvent.Action.MEMBER_REMOVE,
            before={"username": membership.user.get_username(), "role": membership.role},
            after=None,
            target=membership,
        )
        membership.delete()
