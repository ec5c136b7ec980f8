"""An item's state: the one rule for when it has left the queue."""

from collections.abc import Iterable

from django.db.models import Count, F, Q

from annotator.consensus import AUTO_SOURCE, HUMAN_SOURCES
from annotator.models import Item


def items_state_recompute(*, item_ids: Iterable[int]) -> None:
    """Labeled once auto-accepted, or once as many people answered as the project asks
    (its overlap); otherwise back in the queue. Every write that adds or removes answers
    calls this, so an answer, an undo and a revoke agree on what "labeled" means."""
    ids = list(item_ids)
    items = Item.objects.filter(pk__in=ids)
    labeled = list(
        items.annotate(
            human=Count("annotations", filter=Q(annotations__source__in=HUMAN_SOURCES)),
            auto=Count("annotations", filter=Q(annotations__source=AUTO_SOURCE)),
        )
        .filter(Q(auto__gt=0) | Q(human__gte=F("project__annotations_per_item")))
        .values_list("pk", flat=True)
    )
    if labeled:
        items.filter(pk__in=labeled).update(state=Item.State.LABELED)
    if len(labeled) < len(ids):
        items.exclude(pk__in=labeled).update(state=Item.State.UNLABELED)
