"""Projects and their members: creating a project with its first taxonomy and lead,
changing its settings (budgets audited apart), adding people (with new accounts). Each
checks, then acts in one transaction, audited."""

from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils.crypto import get_random_string

from annotator.audit import audit_record, changed_fields
from annotator.exceptions import InvalidInput
from annotator.memberships import membership_role_change
from annotator.models import AuditEvent, Membership, Project, Strategy
from annotator.taxonomy.parsing import taxonomy_json_parse
from annotator.taxonomy.versions import taxonomy_initial_create


def project_create(
    *,
    name: str,
    created_by: AbstractBaseUser | None,
    description: str = "",
    taxonomy: dict | None = None,
    taxonomy_json: str | None = None,
    taxonomy_csv: str | None = None,
    levels: list[str] | None = None,
    lead: str | None = None,
) -> Project:
    """A project and, when one is given, its first taxonomy (an object, JSON text or CSV
    text, read as the CLI reads its files), audited, with ``lead`` (a username) as its
    lead; all or nothing. The one way a project is made: the API, the commands and the
    demo. A creator who is not an admin leads it too, or they could not reach it."""
    name = name.strip()
    if not name:
        raise InvalidInput("A project needs a name.")
    if taxonomy_json is not None:
        if taxonomy is not None:
            raise InvalidInput("Give the taxonomy once: as an object or as JSON text.")
        taxonomy = taxonomy_json_parse(taxonomy_json)
    if levels and taxonomy is not None:
        raise InvalidInput('Level names are for a CSV taxonomy; a JSON one names its "levels".')
    leads = [lead] if lead else []
    if lead and not get_user_model().objects.filter(username=lead).exists():
        raise InvalidInput(f"No user named {lead!r} to lead the project.")
    if created_by is not None and not created_by.is_staff:
        leads.append(created_by.get_username())
    with transaction.atomic():
        project = Project.objects.create(name=name, description=description, created_by=created_by)
        if taxonomy is not None or taxonomy_csv is not None:
            taxonomy_initial_create(
                project=project,
                actor=created_by,
                data=taxonomy,
                csv_text=taxonomy_csv,
                levels=levels,
            )
        for username in dict.fromkeys(leads):
            membership_add(
                project=project, username=username, role=Membership.Role.LEAD, actor=created_by
            )
    return project


PROJECT_EDITABLE_FIELDS = (
    "name",
    "description",
    "lease_seconds",
    "max_human_annotations",
    "daily_quota_per_annotator",
    "max_annotator_hours",
    "annotations_per_item",
    "strategy",
    "batch_size",
    "retrain_every",
    "shadow_size",
    "auto_accept_enabled",
    "auto_accept_target",
    "audit_size",
)
# Only admins set these, and their changes are audited as budget.update.
BUDGET_FIELDS = frozenset(
    {"max_human_annotations", "daily_quota_per_annotator", "max_annotator_hours"}
)


def project_update(*, project: Project, actor: AbstractBaseUser | None = None, **fields) -> Project:
    unknown = fields.keys() - set(PROJECT_EDITABLE_FIELDS)
    if unknown:
        raise InvalidInput(f"Cannot change {', '.join(sorted(unknown))}.")
    if "strategy" in fields and fields["strategy"] not in Strategy.values:
        raise InvalidInput(f"Unknown strategy; choose from {', '.join(sorted(Strategy.values))}.")
    with transaction.atomic():
        # "before" is read under the row lock, so concurrent edits each log what they replaced.
        current = Project.objects.select_for_update().get(pk=project.pk)
        before, after = changed_fields(instance=current, values=fields)
        for field, value in fields.items():
            setattr(project, field, value)
        if fields:
            project.save(update_fields=list(fields))
        for action, names in (
            (AuditEvent.Action.BUDGET_UPDATE, after.keys() & BUDGET_FIELDS),
            (AuditEvent.Action.PROJECT_UPDATE, after.keys() - BUDGET_FIELDS),
        ):
            if names:
                audit_record(
                    actor=actor,
                    project=project,
                    action=action,
                    before={name: before[name] for name in sorted(names)},
                    after={name: after[name] for name in sorted(names)},
                    target=project,
                )
    return project


def membership_add(
    *,
    project: Project,
    username: str,
    role: str,
    password: str | None = None,
    actor: AbstractBaseUser | None = None,
) -> Membership:
    """Add a user to the project, creating the user when a password is given."""
    if role not in Membership.Role.values:
        raise InvalidInput(
            f"Unknown role {role!r}; use one of {', '.join(Membership.Role.values)}."
        )
    user_model = get_user_model()
    with transaction.atomic():
        user = user_model.objects.filter(username=username).first()
        account_created = user is None
        if account_created:
            if not password:
                raise InvalidInput(f"No user {username!r}; an admin can create the account.")
            try:
                user_model.username_validator(username)
            except ValidationError as error:
                raise InvalidInput(f"{username!r}: {' '.join(error.messages)}") from None
            try:
                user = user_model.objects.create_user(username=username, password=password)
            except IntegrityError:  # made by a concurrent request since the look-up
                raise InvalidInput(f"There is already a user named {username!r}.") from None
        membership, created = Membership.objects.get_or_create(
            project=project, user=user, defaults={"role": role}
        )
        if not created:
            # Adding someone already in the project changes their role, audited once.
            return membership_role_change(membership=membership, role=role, actor=actor)
        audit_record(
            actor=actor,
            project=project,
            action=AuditEvent.Action.MEMBER_ADD,
            before=None,
            # A new account is the site's, not only the project's: the log says so.
            after={"username": username, "role": role}
            | ({"account_created": True} if account_created else {}),
            target=membership,
        )
    return membership


# Letters and digits that cannot be mistaken for one another when read out or copied.
ONE_TIME_PASSWORD_CHARS = "abcdefghjkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789"
ONE_TIME_PASSWORD_LENGTH = 16


def membership_add_with_account(
    *, project: Project, username: str, role: str, actor: AbstractBaseUser | None
) -> tuple[Membership, str]:
    """A new account, made a member, and its password, made here from a secure random
    source. Only the password's hash is stored: the caller shows it once."""
    if get_user_model().objects.filter(username=username).exists():
        raise InvalidInput(
            f"There is already a user named {username!r}; add them without a new account."
        )
    password = get_random_string(ONE_TIME_PASSWORD_LENGTH, ONE_TIME_PASSWORD_CHARS)
    membership = membership_add(
        project=project, username=username, role=role, password=password, actor=actor
    )
    return membership, password
