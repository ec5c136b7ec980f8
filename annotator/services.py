"""Writes. Each service checks what it needs, then acts in one transaction."""

import datetime as dt
from dataclasses import dataclass
from functools import partial

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser
from django.db import IntegrityError, transaction
from django.db.models import Avg, Q, Sum
from django.utils import timezone

from annotator import selectors
from annotator.budgets import budget_notices_record
from annotator.consensus import HUMAN_SOURCES
from annotator.exceptions import InvalidInput, StaleLease, TooManyLeases
from annotator.items import items_state_recompute
from annotator.models import (
    Annotation,
    Assignment,
    Item,
    Prediction,
    Project,
    TaxonomyNode,
)
from annotator.signals import answers_committed


@dataclass(frozen=True)
class Lease:
    assignment: Assignment
    item: Item
    prediction: Prediction | None


def _human_budget_left(*, project: Project, user: AbstractBaseUser, now: dt.datetime) -> bool:
    """Whether one more lease fits the project budget and the user's daily quota.

    Active leases count as spent: each one may become an annotation, so counting them
    is what keeps many annotators at once from overshooting.
    """
    active = selectors.assignment_open_list(project=project, now=now)
    human = selectors.annotation_human_list(project=project)
    budget = project.max_human_annotations
    if budget is not None and human.count() + active.count() >= budget:
        return False
    if project.max_annotator_hours is not None:
        spent = human.aggregate(total=Sum("duration_ms"), mean=Avg("duration_ms"))
        # An open lease's time is known only when it is answered: reserve the mean so far.
        reserved = (spent["mean"] or 0) * active.count()
        if (spent["total"] or 0) + reserved >= project.max_annotator_hours * 3_600_000:
            return False
    if project.daily_quota_per_annotator is not None:
        return selectors.annotator_quota(project=project, user=user, now=now)["left_today"] > 0
    return True


def _budgeted(project: Project) -> bool:
    return (
        project.max_human_annotations is not None
        or project.daily_quota_per_annotator is not None
        or project.max_annotator_hours is not None
    )


def _free_items(*, project: Project, user: AbstractBaseUser, now: dt.datetime):
    """Unlabeled items no lease holds and the user has not answered, best first.

    Claimed with SELECT ... FOR UPDATE SKIP LOCKED (of the item rows only), so
    concurrent callers never wait on each other and never get the same item. The lease
    expiry is written on the item row, so the row re-check after a concurrent commit
    excludes an item another transaction just leased.
    """
    items = (
        Item.objects.select_for_update(skip_locked=True, of=("self",))
        .filter(project=project, state=Item.State.UNLABELED)
        .filter(Q(lease_expires_at__isnull=True) | Q(lease_expires_at__lte=now))
        .order_by("-priority", "id")
    )
    if project.annotations_per_item > 1:
        # Overlap asks different people. Without it, an answered item is back in the
        # queue only because it must be asked again (a split node, a rejected label).
        items = items.exclude(annotations__annotator=user)
    return items


def _lease_room(*, project: Project, user: AbstractBaseUser, now: dt.datetime) -> int:
    """How many more leases ``user`` may hold in ``project`` (``ARBOR_MAX_OPEN_LEASES``);
    at the cap, a refusal that says so, never an empty queue.

    The user's row is locked first, so one person's concurrent calls count in turn.
    """
    get_user_model().objects.select_for_update(no_key=True).filter(pk=user.pk).first()
    held = selectors.assignment_open_list(project=project, now=now).filter(annotator=user).count()
    room = settings.ARBOR_MAX_OPEN_LEASES - held
    if room <= 0:
        raise TooManyLeases(
            f"You hold {held} open leases in this project, the most one person may: "
            "answer or skip those items first."
        )
    return room


def _lease_item(*, project: Project, item: Item, user: AbstractBaseUser, now: dt.datetime) -> Lease:
    # A lease that ran out is given up before the item is handed out again. Every end of
    # a lease clears the item's expiry, so an item without one holds no lease to end.
    if item.lease_expires_at is not None:
        Assignment.objects.filter(item=item, state=Assignment.State.ACTIVE).update(
            state=Assignment.State.EXPIRED
        )
    expires_at = now + dt.timedelta(seconds=project.lease_seconds)
    item.lease_expires_at = expires_at
    item.save(update_fields=["lease_expires_at"])
    prediction = (
        Prediction.objects.filter(item=item)
        .select_related("model_version", "predicted_node")
        .order_by("-model_version__version")
        .first()
    )
    assignment = Assignment.objects.create(
        project=project, item=item, annotator=user, expires_at=expires_at, prediction=prediction
    )
    return Lease(assignment=assignment, item=item, prediction=prediction)


def queue_next(*, project: Project, user: AbstractBaseUser) -> Lease | None:
    """Lease the highest-priority free item to ``user``, or None when nothing is left.

    Raises TooManyLeases when ``user`` holds as many open leases as one may.
    """
    now = timezone.now()
    with transaction.atomic():
        budgeted = _budgeted(project)
        if budgeted:
            # Budgets are counted under the project row lock so that two callers
            # cannot both take the last unit.
            Project.objects.select_for_update().filter(pk=project.pk).first()
        _lease_room(project=project, user=user, now=now)
        if budgeted and not _human_budget_left(project=project, user=user, now=now):
            return None
        item = _free_items(project=project, user=user, now=now).first()
        if item is None:
            return None
        return _lease_item(project=project, item=item, user=user, now=now)


def grid_next(
    *, project: Project, user: AbstractBaseUser, size: int
) -> tuple[TaxonomyNode, list[Lease]] | None:
    """Lease up to ``size`` confident items that the latest model predicts as one leaf.

    The leaf is that of the best free item in verify mode; None when there is none. Fewer
    items near the user's cap on open leases, and TooManyLeases at it.
    """
    latest = selectors.model_version_latest(project=project)
    if latest is None:
        return None
    now = timezone.now()
    with transaction.atomic():
        budgeted = _budgeted(project)
        if budgeted:
            Project.objects.select_for_update().filter(pk=project.pk).first()
        size = min(size, _lease_room(project=project, user=user, now=now))
        # One filter() call: one join, on the latest version's prediction only (an item
        # has one), so no item can come back twice.
        confident = {
            "predictions__model_version": latest,
            "predictions__mode": Prediction.Mode.VERIFY,
            "predictions__rejected": False,
        }
        free = _free_items(project=project, user=user, now=now)
        first = free.filter(**confident).first()
        if first is None:
            return None
        node = Prediction.objects.get(item=first, model_version=latest).predicted_node
        same_leaf = free.filter(**confident, predictions__predicted_node=node).exclude(pk=first.pk)
        leases = []
        for item in [first, *same_leaf[: size - 1]]:
            if budgeted and not _human_budget_left(project=project, user=user, now=now):
                break
            leases.append(_lease_item(project=project, item=item, user=user, now=now))
    return (node, leases) if leases else None


def _lease_for_update(
    *, assignment_id, user: AbstractBaseUser, item: Item | None = None
) -> Assignment:
    # The prediction shown comes along (the answer records it); only the lease is locked.
    assignment = (
        Assignment.objects.select_related("prediction")
        .select_for_update(of=("self",))
        .filter(pk=assignment_id, annotator=user)
        .first()
    )
    if assignment is None:
        raise InvalidInput("No such lease for this user.")
    if item is not None and assignment.item_id != item.pk:
        raise InvalidInput("This lease is for another item.")
    if assignment.state != Assignment.State.ACTIVE or assignment.expires_at <= timezone.now():
        raise StaleLease(
            f"The lease is {assignment.state if assignment.state != 'active' else 'expired'}; "
            "ask the queue for the next item."
        )
    return assignment


def _lease_end(*, assignment: Assignment, state: str) -> None:
    assignment.state = state
    assignment.save(update_fields=["state"])
    Item.objects.filter(pk=assignment.item_id).update(lease_expires_at=None)


def lease_release(*, assignment_id, user: AbstractBaseUser) -> Assignment:
    """Give the item back to the queue (skip) before the lease runs out."""
    with transaction.atomic():
        assignment = _lease_for_update(assignment_id=assignment_id, user=user)
        _lease_end(assignment=assignment, state=Assignment.State.RELEASED)
    return assignment


@dataclass(frozen=True)
class Submission:
    annotation: Annotation
    replayed: bool


def _source_check(*, source: str | None, node: TaxonomyNode, predicted: TaxonomyNode | None) -> str:
    """``predicted``: the shown prediction's node in the current taxonomy, None when no
    prediction was shown."""
    if source is None:
        if predicted is None:
            return Annotation.Source.MANUAL
        return (
            Annotation.Source.CONFIRMED if predicted.pk == node.pk else Annotation.Source.CORRECTED
        )
    if source not in HUMAN_SOURCES:
        raise InvalidInput(f"source must be one of {', '.join(sorted(HUMAN_SOURCES))}.")
    if source != Annotation.Source.MANUAL and predicted is None:
        raise InvalidInput(f"source {source!r} needs a prediction, and none was shown.")
    if source == Annotation.Source.CONFIRMED and predicted.pk != node.pk:
        raise InvalidInput("source 'confirmed' must answer the predicted node.")
    return source


def annotation_submit(
    *,
    item: Item,
    user: AbstractBaseUser,
    node: int | str,
    lease_id,
    idempotency_key: str | None,
    duration_ms: int | None = None,
    source: str | None = None,
) -> Submission:
    """Store a human answer for a leased item.

    The same idempotency key returns the stored answer again, so a client can retry
    after a dropped response without creating a second annotation.
    """

    def replay() -> Submission | None:
        if not idempotency_key:
            return None
        existing = Annotation.objects.filter(
            annotator=user, idempotency_key=idempotency_key
        ).first()
        if existing is None:
            return None
        if existing.item_id != item.pk:
            raise InvalidInput("This idempotency key was already used for another item.")
        return Submission(annotation=existing, replayed=True)

    if (replayed := replay()) is not None:
        return replayed
    taxonomy = selectors.taxonomy_current(project=item.project)
    followed = taxonomy and selectors.taxonomy_node_follow(taxonomy=taxonomy, node=node)
    if not followed:
        raise InvalidInput(f"{node!r} is not a node of this project's taxonomy.")
    chosen, coarsened = followed
    try:
        with transaction.atomic():
            assignment = _lease_for_update(assignment_id=lease_id, user=user, item=item)
            # A concurrent retry with the same key waited on the lease lock above.
            if (replayed := replay()) is not None:
                return replayed
            prediction = assignment.prediction
            # A model trained on an older taxonomy version predicted a node of that version.
            predicted = prediction and (
                chosen
                if prediction.predicted_node_id == chosen.pk
                else selectors.taxonomy_node_resolve(
                    taxonomy=taxonomy, node=prediction.predicted_node_id
                )
            )
            annotation = Annotation.objects.create(
                project=item.project,
                item=item,
                annotator=user,
                node=chosen,
                source=_source_check(source=source, node=chosen, predicted=predicted),
                assignment=assignment,
                prediction=prediction,
                model_version_id=prediction.model_version_id if prediction else None,
                duration_ms=duration_ms,
                idempotency_key=idempotency_key or None,
            )
            budget_notices_record(project=item.project)
            _lease_end(assignment=assignment, state=Assignment.State.SUBMITTED)
            items_state_recompute(item_ids=[item.pk])
            if coarsened:
                # The answer named a leaf split since: nobody can tell which new leaf it
                # meant, so, as the split did with the answers before it, it is kept at
                # the parent and the item is asked again (taxonomy/versions.py).
                Item.objects.filter(pk=item.pk).update(state=Item.State.UNLABELED)
            transaction.on_commit(
                partial(answers_committed.send, sender=Annotation, project_id=item.project_id)
            )
    except IntegrityError:
        # The same key raced in through another lease; the stored answer wins.
        if (replayed := replay()) is not None:
            return replayed
        raise
    return Submission(annotation=annotation, replayed=False)


# Priority of an item whose prediction was marked wrong: above the selected batch, so
# it is fixed soon while the person still remembers it.
REJECTED_PRIORITY = 3.5


def grid_answer(
    *, project: Project, user: AbstractBaseUser, accept: list, reject: list
) -> dict[str, int]:
    """Answer a verification grid: accepted predictions become confirmed answers,
    rejected ones go back to the queue to be labeled in full.

    All or nothing, and safe to send again: leases this call already settled are skipped.
    """
    if set(accept) & set(reject):
        raise InvalidInput("A lease cannot be both accepted and rejected.")
    leases = {
        assignment.pk: assignment
        for assignment in Assignment.objects.filter(
            pk__in=[*accept, *reject], annotator=user, project=project
        ).select_related("item__project", "prediction")
    }
    unknown = {str(lease) for lease in [*accept, *reject]} - {str(pk) for pk in leases}
    if unknown:
        raise InvalidInput(f"No such leases for this user: {', '.join(sorted(unknown))}.")
    if any(leases[pk].prediction is None for pk in leases):
        raise InvalidInput("Only predictions can be verified in a grid.")
    counts = {"accepted": 0, "rejected": 0}
    with transaction.atomic():
        for lease_id in accept:
            assignment = leases[lease_id]
            annotation_submit(
                item=assignment.item,
                user=user,
                node=assignment.prediction.predicted_node_id,
                lease_id=lease_id,
                idempotency_key=f"grid-{lease_id}",
                source=Annotation.Source.CONFIRMED,
            )
            counts["accepted"] += 1
        for lease_id in reject:
            assignment = leases[lease_id]
            if assignment.state == Assignment.State.RELEASED and assignment.prediction.rejected:
                counts["rejected"] += 1  # sent again after a dropped response
                continue
            locked = _lease_for_update(assignment_id=lease_id, user=user)
            _lease_end(assignment=locked, state=Assignment.State.RELEASED)
            Prediction.objects.filter(pk=assignment.prediction_id).update(rejected=True)
            Item.objects.filter(pk=assignment.item_id).update(priority=REJECTED_PRIORITY)
            counts["rejected"] += 1
    return counts


def annotation_undo(*, annotation: Annotation, user: AbstractBaseUser) -> Assignment:
    """Take back one's own answer while the lease it was given under still holds.

    The answer is deleted, the item is unlabeled again unless other answers still fill
    it, and the lease becomes active again, so the same person can answer anew under it.
    """
    if annotation.annotator_id != user.pk:
        raise InvalidInput("Only your own answers can be undone.")
    with transaction.atomic():
        assignment = (
            Assignment.objects.select_for_update().filter(pk=annotation.assignment_id).first()
        )
        now = timezone.now()
        if (
            assignment is None
            or assignment.state != Assignment.State.SUBMITTED
            or assignment.expires_at <= now
        ):
            raise StaleLease("The lease of this answer has ended; it can no longer be undone.")
        item = Item.objects.select_for_update().get(pk=annotation.item_id)
        # With overlap, the item went on to a colleague. One lease at a time holds an item
        # (a unique index), so theirs is kept and the answer stands; one that ran out ends.
        others = Assignment.objects.filter(item=item, state=Assignment.State.ACTIVE)
        if others.filter(expires_at__gt=now).exists():
            raise StaleLease(
                "A colleague is answering this item now, so your answer can no longer be undone."
            )
        others.update(state=Assignment.State.EXPIRED)
        annotation.delete()
        assignment.state = Assignment.State.ACTIVE
        assignment.save(update_fields=["state"])
        items_state_recompute(item_ids=[item.pk])
        item.lease_expires_at = assignment.expires_at
        item.save(update_fields=["lease_expires_at"])
    return assignment
