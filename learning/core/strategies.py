"""Query strategies: pure functions from pool scores to a ranked batch of pool positions.

Every strategy in :data:`STRATEGIES` has the signature
``strategy(state: PoolState, batch_size: int, rng: np.random.Generator) -> np.ndarray``
and returns unique positions into the pool arrays, most wanted first. Call them through
:func:`select`, which also says per picked item which question to ask (the "mode"):

- ``"full"``: the top level is uncertain, ask the whole path;
- ``"fine"``: the top ``settled_depth`` levels are sure, ask only below the settled node;
- ``"verify"``: every level is sure, ask the human to confirm the predicted path.

Robustness (as in baal): rows with NaN/inf/negative probabilities are treated as
uniform and ranked after every valid row; an empty pool gives an empty batch; a batch
larger than the pool returns the whole pool, ranked.

Least-confidence, margin and entropy are computed by modAL's own measures
(``modAL.uncertainty.classifier_uncertainty / classifier_margin / classifier_entropy``)
on a thin classifier that serves the precomputed probabilities.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from modAL.uncertainty import classifier_entropy, classifier_margin, classifier_uncertainty

from learning.core.taxonomy import Taxonomy

MODES = ("full", "fine", "verify")


@dataclass(frozen=True)
class PoolState:
    """What a strategy may look at; arrays are aligned on the unlabeled pool.

    ``leaf_probs`` ``(N, leaves)``; ``embeddings`` ``(N, D)`` for diversity (any fixed
    representation, e.g. a PCA of the backbone embedding); ``labeled_embeddings``
    ``(M, D)`` in the same space; ``labeled_leaf_counts`` ``(leaves,)`` how many items
    are labelled down to each leaf so far.
    """

    taxonomy: Taxonomy
    leaf_probs: np.ndarray
    embeddings: np.ndarray | None = None
    labeled_embeddings: np.ndarray | None = None
    labeled_leaf_counts: np.ndarray | None = None
    confident_threshold: float = 0.9  # conditional probability above which a level is "sure"
    minimum_per_class: int = 10  # class-balanced: rare classes first until they have this many

    def __len__(self) -> int:
        return len(self.leaf_probs)


@dataclass(frozen=True)
class Selection:
    """A ranked batch: pool positions, with the question to ask for each."""

    indices: np.ndarray
    modes: tuple[str, ...]
    settled_depth: np.ndarray  # leading levels already sure (0 for "full")


Strategy = Callable[[PoolState, int, np.random.Generator], np.ndarray]


# -- shared pieces ----------------------------------------------------------------------


def clean_probabilities(leaf_probs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(probabilities, valid)``: invalid rows (NaN/inf/negative/zero-sum) become uniform."""
    probs = np.asarray(leaf_probs, dtype=np.float64)
    if probs.ndim != 2:
        probs = probs.reshape(len(probs), -1)
    totals = probs.sum(axis=1) if probs.size else np.zeros(len(probs))
    valid = np.isfinite(probs).all(axis=1) & (probs >= 0).all(axis=1) & (totals > 0)
    cleaned = np.full_like(probs, 1.0 / max(probs.shape[1], 1))
    cleaned[valid] = probs[valid] / totals[valid, None]
    return cleaned, valid


def rank_by_priority(priority: np.ndarray, valid: np.ndarray | None = None) -> np.ndarray:
    """Positions by descending priority; NaN/inf priorities and invalid rows last.

    A stable sort, so ties keep pool order and results are reproducible.
    """
    priority = np.asarray(priority, dtype=np.float64)
    usable = np.isfinite(priority)
    if valid is not None:
        usable &= valid
    # Two keys: usable rows first, then higher priority first.
    return np.lexsort((-np.where(usable, priority, 0.0), ~usable))


class _Probabilities:
    """The least a modAL measure needs from a classifier: ``predict_proba(X)``.

    ``X`` holds pool positions (one per row), so modAL scores the precomputed
    probabilities without retraining anything.
    """

    def __init__(self, probs: np.ndarray):
        self.probs = probs

    def predict_proba(self, positions: np.ndarray) -> np.ndarray:
        return self.probs[np.asarray(positions, dtype=np.int64).ravel()]


def modal_uncertainty(probs: np.ndarray, measure: str) -> np.ndarray:
    """Uncertainty of each row through modAL (higher = more uncertain).

    ``measure`` is ``least_confidence``, ``margin`` (negated, as modAL's
    ``margin_sampling`` ranks the smallest margin first) or ``entropy``.
    """
    classifier = _Probabilities(probs)
    positions = np.arange(len(probs)).reshape(-1, 1)
    if measure == "least_confidence":
        return classifier_uncertainty(classifier, positions)
    if measure == "margin":
        return -classifier_margin(classifier, positions)
    if measure == "entropy":
        return classifier_entropy(classifier, positions)
    raise ValueError(f"unknown uncertainty measure {measure!r}")


def path_confidence(leaf_probs: np.ndarray, taxonomy: Taxonomy) -> tuple[np.ndarray, np.ndarray]:
    """Conditional confidence and margin at each level of the top-down predicted path.

    At level k the siblings under the predicted level-(k-1) node are renormalised
    (``q = p(node) / p(parent)``), so a fine level is judged only among the children of
    the likely coarse node. Returns two ``(N, depth)`` arrays.
    """
    probs, _ = clean_probabilities(leaf_probs)
    node_probs = taxonomy.node_probabilities(probs)
    path = taxonomy.predict_top_down(probs)
    parents = np.array([node.parent for node in taxonomy.nodes])
    levels = np.array([node.level for node in taxonomy.nodes])
    confidence = np.ones((len(probs), taxonomy.depth))
    margin = np.ones((len(probs), taxonomy.depth))
    parent_prob = np.ones(len(probs))
    chosen_parent = np.full(len(probs), -1)
    for level in range(taxonomy.depth):
        siblings = (levels[None, :] == level) & (parents[None, :] == chosen_parent[:, None])
        sibling_probs = (
            np.where(siblings, node_probs, 0.0) / np.maximum(parent_prob, 1e-12)[:, None]
        )
        top_two = -np.partition(-sibling_probs, 1, axis=1)[:, :2]
        confidence[:, level] = top_two[:, 0]
        margin[:, level] = top_two[:, 0] - top_two[:, 1]
        chosen_parent = path[:, level]
        parent_prob = node_probs[np.arange(len(probs)), chosen_parent]
    return confidence, margin


def route(
    leaf_probs: np.ndarray, taxonomy: Taxonomy, confident_threshold: float = 0.9
) -> tuple[tuple[str, ...], np.ndarray]:
    """Mode per row (``full`` / ``fine`` / ``verify``) and how many levels are settled.

    A level is sure when its conditional confidence reaches ``confident_threshold``;
    the settled depth is the number of leading sure levels.
    """
    if len(leaf_probs) == 0:
        return (), np.zeros(0, dtype=np.int64)
    confidence, _ = path_confidence(leaf_probs, taxonomy)
    sure = confidence >= confident_threshold
    settled = np.cumprod(sure, axis=1).sum(axis=1)
    modes = tuple(
        "verify" if depth == taxonomy.depth else "full" if depth == 0 else "fine"
        for depth in settled
    )
    return modes, settled.astype(np.int64)


def _labeled_counts(state: PoolState) -> np.ndarray:
    if state.labeled_leaf_counts is None:
        return np.zeros(state.taxonomy.num_leaves)
    return np.asarray(state.labeled_leaf_counts, dtype=np.float64)


def _next_class(counts: np.ndarray, taken: np.ndarray, open_: np.ndarray, minimum: int) -> int:
    """The class that most needs the next pick.

    Classes still under ``minimum`` (labelled + already picked) go first, smallest
    first; after that each class's share of the batch is proportional to
    ``1 / (labelled count + 1)`` and the class furthest below its share is next.
    """
    have = counts + taken
    below = open_ & (have < minimum)
    if below.any():
        return int(np.flatnonzero(below)[np.argmin(have[below])])
    share = np.where(open_, 1.0 / (counts + 1.0), 0.0)
    share /= share.sum()
    deficit = np.where(open_, share * (taken.sum() + 1) - taken, -np.inf)
    return int(np.argmax(deficit))


def _min_distances(points: np.ndarray, centers: np.ndarray, chunk: int = 4096) -> np.ndarray:
    """Euclidean distance from every point to its nearest center (chunked)."""
    if len(centers) == 0:
        return np.full(len(points), np.inf)
    center_norms = (centers**2).sum(axis=1)
    nearest = np.empty(len(points))
    for start in range(0, len(points), chunk):
        block = points[start : start + chunk]
        squared = (block**2).sum(axis=1)[:, None] - 2 * block @ centers.T + center_norms[None, :]
        nearest[start : start + chunk] = np.sqrt(np.maximum(squared.min(axis=1), 0.0))
    return nearest


def _finite_embeddings(state: PoolState) -> tuple[np.ndarray, np.ndarray]:
    """Pool and labelled embeddings with non-finite values zeroed (float64)."""
    if state.embeddings is None:
        raise ValueError("this strategy needs pool embeddings")
    pool = np.nan_to_num(np.asarray(state.embeddings, dtype=np.float64), posinf=0.0, neginf=0.0)
    labeled = state.labeled_embeddings
    if labeled is None:
        labeled = np.zeros((0, pool.shape[1]))
    labeled = np.nan_to_num(np.asarray(labeled, dtype=np.float64), posinf=0.0, neginf=0.0)
    return pool, labeled


def _class_balanced_diverse(
    state: PoolState, batch_size: int, candidates: np.ndarray, use_distance: bool
) -> np.ndarray:
    """Class-balanced picks from ``candidates`` (ranked best first).

    Classes take turns as :func:`_next_class` decides; within a class the next pick is
    its best-ranked candidate, or with ``use_distance`` the candidate farthest from
    everything labelled or picked so far (k-center greedy), so one batch does not hold
    near-duplicates.
    """
    probs, _ = clean_probabilities(state.leaf_probs)
    predicted = state.taxonomy.predict_top_down(probs)[:, -1]
    leaf_column = {node: column for column, node in enumerate(state.taxonomy.leaves)}
    predicted_column = np.array([leaf_column[node] for node in predicted[candidates]])
    counts = _labeled_counts(state)
    taken = np.zeros_like(counts)
    if use_distance:
        pool, labeled = _finite_embeddings(state)
        points = pool[candidates]
        distance = _min_distances(points, labeled)
    available = np.ones(len(candidates), dtype=bool)
    picks: list[int] = []
    for _ in range(min(batch_size, len(candidates))):
        open_ = np.bincount(predicted_column[available], minlength=len(counts)) > 0
        leaf = _next_class(counts, taken, open_, state.minimum_per_class)
        members = np.flatnonzero(available & (predicted_column == leaf))
        # Candidates are ranked best first, so without distances take the first member.
        pick = members[np.argmax(distance[members])] if use_distance else members[0]
        picks.append(pick)
        available[pick] = False
        taken[leaf] += 1
        if use_distance:
            distance = np.minimum(distance, np.linalg.norm(points - points[pick], axis=1))
    return candidates[np.array(picks, dtype=np.int64)]


# -- the strategies ---------------------------------------------------------------------


def random_strategy(state: PoolState, batch_size: int, rng: np.random.Generator) -> np.ndarray:
    """Uniformly random batch: the baseline."""
    return rng.permutation(len(state))[:batch_size]


def _uncertainty_strategy(measure: str) -> Strategy:
    def strategy(state: PoolState, batch_size: int, rng: np.random.Generator) -> np.ndarray:
        probs, valid = clean_probabilities(state.leaf_probs)
        return rank_by_priority(modal_uncertainty(probs, measure), valid)[:batch_size]

    strategy.__name__ = f"{measure}_strategy"
    strategy.__doc__ = f"Fine-level {measure.replace('_', ' ')} sampling, measured by modAL."
    return strategy


def hierarchical_strategy(
    state: PoolState, batch_size: int, rng: np.random.Generator
) -> np.ndarray:
    """Uncertainty of the weakest link of the predicted path.

    Each level's margin is taken among the siblings under the predicted parent (coarse
    at the top, fine under the likely coarse node); the item's priority is one minus
    the smallest of these conditional margins.
    """
    _, valid = clean_probabilities(state.leaf_probs)
    _, margin = path_confidence(state.leaf_probs, state.taxonomy)
    return rank_by_priority(1.0 - margin.min(axis=1), valid)[:batch_size]


def balanced_strategy(state: PoolState, batch_size: int, rng: np.random.Generator) -> np.ndarray:
    """Class-balanced over predicted leaves (rare first), most uncertain (margin) within."""
    probs, valid = clean_probabilities(state.leaf_probs)
    ranked = rank_by_priority(modal_uncertainty(probs, "margin"), valid)
    return _class_balanced_diverse(state, batch_size, ranked, use_distance=False)


def kcenter_strategy(state: PoolState, batch_size: int, rng: np.random.Generator) -> np.ndarray:
    """k-center greedy on embeddings: each pick is the item farthest from all chosen."""
    pool, labeled = _finite_embeddings(state)
    distance = _min_distances(pool, labeled)
    picks: list[int] = []
    for _ in range(min(batch_size, len(pool))):
        # With nothing labelled every distance is inf: argmax takes the first item.
        pick = int(np.argmax(distance))
        picks.append(pick)
        distance = np.minimum(distance, np.linalg.norm(pool - pool[pick], axis=1))
        distance[pick] = -np.inf
    return np.array(picks, dtype=np.int64)


CANDIDATE_FACTOR = 2  # combined: diversify among the 2 x batch most uncertain items (5 was worse)


def combined_strategy(state: PoolState, batch_size: int, rng: np.random.Generator) -> np.ndarray:
    """Uncertain, class-balanced and diverse.

    Take the ``CANDIDATE_FACTOR x batch`` most uncertain items (hierarchical margin),
    then pick among them class by class (rare classes first) with k-center greedy
    inside each class, so the batch covers classes and the embedding space.
    """
    ranked = hierarchical_strategy(state, len(state), rng)
    candidates = ranked[: max(batch_size, CANDIDATE_FACTOR * batch_size)]
    return _class_balanced_diverse(state, batch_size, candidates, use_distance=True)


STRATEGIES: dict[str, Strategy] = {
    "random": random_strategy,
    "least_confidence": _uncertainty_strategy("least_confidence"),
    "margin": _uncertainty_strategy("margin"),
    "entropy": _uncertainty_strategy("entropy"),
    "hierarchical": hierarchical_strategy,
    "balanced": balanced_strategy,
    "kcenter": kcenter_strategy,
    "combined": combined_strategy,
}


def select(
    strategy: str, state: PoolState, batch_size: int, seed: int | np.random.Generator = 0
) -> Selection:
    """Run a named strategy and route each picked item to a question mode.

    Returns at most ``min(batch_size, len(pool))`` unique positions, ranked.
    """
    if strategy not in STRATEGIES:
        raise KeyError(f"unknown strategy {strategy!r}; choose from {sorted(STRATEGIES)}")
    batch_size = min(max(int(batch_size), 0), len(state))
    if batch_size == 0:
        return Selection(np.zeros(0, dtype=np.int64), (), np.zeros(0, dtype=np.int64))
    rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
    indices = np.asarray(STRATEGIES[strategy](state, batch_size, rng), dtype=np.int64)
    modes, settled = route(state.leaf_probs[indices], state.taxonomy, state.confident_threshold)
    return Selection(indices, modes, settled)
