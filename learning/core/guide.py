"""The labeling guide's examples, chosen from the project's own labelled items.

"Thinking Like an Annotator" (Radosavovic et al.) shows that definitions plus
representative examples per class make labels better. Representative here means
typical in the current embedding: the human-labelled items nearest to their class's
mean. Each class is also shown next to the classes the model confuses it with (from a
confusion matrix), each with the item of that class that looks most like this one.

Plain numpy: rows are items, ``labels`` holds each row's labelled node index (-1 for
none), distances are Euclidean between L2-normalised embeddings.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping

import numpy as np

from learning.core.taxonomy import Taxonomy


def _normalised(embeddings: np.ndarray) -> np.ndarray:
    embeddings = np.asarray(embeddings, dtype=np.float64)
    norms = np.linalg.norm(embeddings, axis=1, keepdims=True)
    return embeddings / np.where(norms > 0, norms, 1.0)


def node_members(labels: np.ndarray, taxonomy: Taxonomy) -> dict[int, np.ndarray]:
    """Per node index, the rows labelled with it or with a node below it (a leaf's rows
    count for its ancestors too; a coarse-only answer counts for its node and above)."""
    labels = np.asarray(labels, dtype=np.int64)
    members: dict[int, list[int]] = {}
    for row in np.flatnonzero(labels >= 0).tolist():
        for node in taxonomy.ancestors(int(labels[row])):
            members.setdefault(node, []).append(row)
    return {node: np.array(rows, dtype=np.int64) for node, rows in members.items()}


def nearest_rows(
    embeddings: np.ndarray,
    rows: np.ndarray,
    count: int,
    centre: np.ndarray | None = None,
    excluded: Collection[int] = (),
) -> np.ndarray:
    """Of ``rows``, the ``count`` nearest to ``centre`` (by default the mean of all of
    ``rows``, excluded ones included), nearest first; ``excluded`` rows are never chosen.
    Ties go to the lower row, so the choice is the same on every run."""
    rows = np.asarray(rows, dtype=np.int64)
    if count <= 0 or not len(rows):
        return np.zeros(0, dtype=np.int64)
    points = _normalised(np.asarray(embeddings)[rows])
    centre = points.mean(axis=0) if centre is None else np.asarray(centre, dtype=np.float64)
    distance = np.linalg.norm(points - centre, axis=1)
    allowed = ~np.isin(rows, np.asarray(list(excluded), dtype=np.int64))
    order = np.lexsort((rows, distance))
    return rows[order[allowed[order]]][:count]


def typical_examples(
    embeddings: np.ndarray,
    members: Mapping[int, np.ndarray],
    count: int | Mapping[int, int],
    excluded: Mapping[int, Collection[int]] | None = None,
) -> dict[int, np.ndarray]:
    """Per node, its ``count`` most typical rows (nearest to the node's mean), nearest
    first. ``count`` may differ per node (pinned examples take places); ``excluded``
    names rows per node never to choose (examples a lead removed, or pinned already)."""
    excluded = excluded or {}
    chosen = {}
    for node, rows in members.items():
        wanted = count if isinstance(count, int) else count.get(node, 0)
        chosen[node] = nearest_rows(embeddings, rows, wanted, excluded=excluded.get(node, ()))
    return chosen


def confused_classes(confusion: np.ndarray, top: int) -> list[list[tuple[int, int]]]:
    """Per class (row of the square ``confusion``: rows true, columns predicted), up to
    ``top`` other classes it is most often confused with, either way round, as
    ``(class, count)`` pairs, most confused first; classes never confused are left out."""
    confusion = np.asarray(confusion, dtype=np.int64)
    both = confusion + confusion.T
    np.fill_diagonal(both, 0)
    result = []
    for row in both:
        order = np.lexsort((np.arange(len(row)), -row))  # most first, then by class
        result.append([(int(other), int(row[other])) for other in order[:top] if row[other] > 0])
    return result


def lookalike_row(
    embeddings: np.ndarray,
    members: Mapping[int, np.ndarray],
    of_node: int,
    like_node: int,
    excluded: Collection[int] = (),
) -> int | None:
    """The row of ``of_node`` that looks most like ``like_node``: nearest to the mean of
    ``like_node``'s rows. None when either has no rows."""
    rows, like = members.get(of_node), members.get(like_node)
    if rows is None or like is None or not len(rows) or not len(like):
        return None
    centre = _normalised(np.asarray(embeddings)[like]).mean(axis=0)
    found = nearest_rows(embeddings, rows, 1, centre=centre, excluded=excluded)
    return int(found[0]) if len(found) else None
