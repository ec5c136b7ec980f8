"""An item's state: the one rule for when it has left the queue; and the planner's view
of the items table after many arrive at once."""

from collections.abc import Iterable

from django.db import connection
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


# Imports at least this large refresh the table's statistics themselves.
STATISTICS_AFTER_ITEMS = 1000


def items_statistics_refresh() -> None:
    """Refresh PostgreSQL's statistics of the items table after many items arrived.

    Until autovacuum gets to it (a minute or more), the planner still sees the table as
    it was and may plan the queue's query as a sort of the whole project: 86 ms per
    next-item call at 100,000 items instead of 1 ms (docs/benchmarks.md). ANALYZE reads a
    sample of the rows, so it costs well under a second.
    """
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE annotator_item")
