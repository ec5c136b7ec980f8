"""The final label of an item from its annotations, and how far the annotators agree.

Pure functions over node paths (``animal/cat``): no database access, so exports, overlap
resolution and agreement reports can share them.

The rule:
- Only human answers (manual, confirmed, corrected) vote. An auto-accepted label gives
  the final label only when no human answered; its agreement is empty.
- Votes are counted top-down. An answer supports its node and every ancestor, so a
  coarse-only answer (``animal``) counts towards ``animal`` but towards no node below.
  At each level the child with the most support wins, ties going to the child with the
  most recent support; the descent stops where no answer goes deeper.
- Agreement at a level is the share of human answers whose node at that level is the
  final label's node at that level, for each level down to the label's depth.
"""

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

# The answers given by people: every source but "auto". The one list of them.
HUMAN_SOURCES = frozenset({"manual", "confirmed", "corrected"})
AUTO_SOURCE = "auto"


@dataclass(frozen=True)
class Vote:
    """One annotation, as far as the consensus needs it."""

    path: str
    source: str
    created_at: dt.datetime


@dataclass(frozen=True)
class Label:
    """An item's final label."""

    path: str
    source: str  # of the most recent answer for this exact node
    labeled_at: dt.datetime  # when that answer was given
    agreement: tuple[float, ...]  # per level from the top; empty for an auto label

    @property
    def depth(self) -> int:
        return path_depth(self.path)

    @property
    def final_agreement(self) -> float | None:
        """Agreement at the label's own level, the strictest one; None for auto labels."""
        return self.agreement[-1] if self.agreement else None


def path_depth(path: str) -> int:
    return path.count("/") + 1


def path_at_level(path: str, depth: int) -> str | None:
    """The ancestor-or-self of ``path`` at ``depth`` (1 = top), None if ``path`` is shallower."""
    names = path.split("/")
    return "/".join(names[:depth]) if depth <= len(names) else None


def agreement(*, paths: Sequence[str], label_path: str) -> tuple[float, ...]:
    """Per level down to the label's depth: the share of ``paths`` that agree with it there."""
    if not paths:
        return ()
    target = label_path.split("/")
    answers = [path.split("/") for path in paths]
    return tuple(
        sum(names[:depth] == target[:depth] for names in answers) / len(answers)
        for depth in range(1, len(target) + 1)
    )


def final_label(votes: Iterable[Vote]) -> Label | None:
    """The final label of one item, or None when it has no usable annotation."""
    votes = list(votes)
    human = [vote for vote in votes if vote.source in HUMAN_SOURCES]
    if not human:
        auto = [vote for vote in votes if vote.source == AUTO_SOURCE]
        if not auto:
            return None
        latest = max(auto, key=lambda vote: vote.created_at)
        return Label(latest.path, AUTO_SOURCE, latest.created_at, agreement=())

    paths = [vote.path for vote in human]
    # Unanimous answers are the common case and need no counting.
    chosen = paths[0] if len(set(paths)) == 1 else _top_down_majority(human)
    decisive = max(
        (vote for vote in human if vote.path == chosen), key=lambda vote: vote.created_at
    )
    return Label(
        path=chosen,
        source=decisive.source,
        labeled_at=decisive.created_at,
        agreement=agreement(paths=paths, label_path=chosen),
    )


def _top_down_majority(human: list[Vote]) -> str:
    """From the top, the child with the most support (then the most recent), level by level."""
    # node path -> (answers at it or below it, the most recent of those)
    support: dict[str, tuple[int, dt.datetime]] = {}
    children: dict[str, set[str]] = {}
    for vote in human:
        parent = ""
        for depth in range(1, path_depth(vote.path) + 1):
            node = path_at_level(vote.path, depth)
            count, latest = support.get(node, (0, vote.created_at))
            support[node] = (count + 1, max(latest, vote.created_at))
            children.setdefault(parent, set()).add(node)
            parent = node
    chosen = ""
    while children.get(chosen):
        # The path breaks exact ties (same count, same instant) so the result is stable.
        chosen = max(children[chosen], key=lambda node: (*support[node], node))
    return chosen
