"""Measuring a model on labelled samples: accuracy per level, confusion, path probability.

The loop measures every model on the random shadow sample (human labels) and on the
gold set (ground truth). Everything here is plain numpy on leaf probabilities and
taxonomy node indices; :meth:`Taxonomy.evaluate` supplies the per-level accuracies and
the hierarchical scores.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from learning.core.taxonomy import Taxonomy


def leaf_positions(taxonomy: Taxonomy, leaf_nodes: np.ndarray) -> np.ndarray:
    """Columns in leaf-probability arrays of the leaf nodes ``leaf_nodes`` (node indices)."""
    return np.array(
        [taxonomy.leaf_position(node) for node in np.asarray(leaf_nodes).tolist()], dtype=np.int64
    )


def confusion_matrix(true: np.ndarray, predicted: np.ndarray, classes: int) -> np.ndarray:
    """``(classes, classes)`` counts: rows are the true class, columns the predicted one."""
    confusion = np.zeros((classes, classes), dtype=np.int64)
    np.add.at(
        confusion, (np.asarray(true, dtype=np.int64), np.asarray(predicted, dtype=np.int64)), 1
    )
    return confusion


def predicted_path_probability(
    taxonomy: Taxonomy, leaf_probs: np.ndarray, predicted_path: np.ndarray
) -> np.ndarray:
    """Probability of each row's whole predicted path: that of its predicted leaf.

    ``predicted_path`` is ``(N, depth)`` node indices (top-down); its last column holds
    leaves. Returns ``(N,)``.
    """
    columns = leaf_positions(taxonomy, np.asarray(predicted_path)[:, -1])
    return np.asarray(leaf_probs)[np.arange(len(columns)), columns]


def predicted_path_level_probabilities(
    taxonomy: Taxonomy, level_probs: Sequence[np.ndarray], predicted_path: np.ndarray
) -> np.ndarray:
    """``(N, depth)``: the probability of the predicted path's node at every level.

    ``level_probs[k]`` is ``(N, nodes on level k)`` with columns in
    :meth:`Taxonomy.level_nodes` order (as in ``PoolScores``); the result keeps its dtype.
    """
    predicted_path = np.asarray(predicted_path)
    rows = np.arange(len(predicted_path))
    per_level = []
    for level in range(taxonomy.depth):
        column = {node: position for position, node in enumerate(taxonomy.level_nodes(level))}
        columns = np.array([column[node] for node in predicted_path[:, level]], dtype=np.int64)
        per_level.append(np.asarray(level_probs[level])[rows, columns])
    return np.stack(per_level, axis=1)


def sample_evaluate(
    taxonomy: Taxonomy,
    leaf_probs: np.ndarray,
    predicted_path: np.ndarray,
    true_leaf: np.ndarray,
) -> dict[str, Any]:
    """Metrics of a model on one labelled sample, ready to store as JSON.

    ``leaf_probs`` ``(N, leaves)`` and ``predicted_path`` ``(N, depth)`` are the model's
    scores for the sample's rows and ``true_leaf`` ``(N,)`` their true leaf node indices.
    Returns ``n``, every key of :meth:`Taxonomy.evaluate` (accuracy per level,
    hierarchical P/R/F1, mistake severity), ``leaves`` (leaf paths in taxonomy order)
    and ``confusion`` (rows: true leaf, columns: predicted leaf, in that order).
    """
    positions = leaf_positions(taxonomy, true_leaf)
    result = taxonomy.evaluate(leaf_probs, positions)
    predicted = leaf_positions(taxonomy, np.asarray(predicted_path)[:, -1])
    confusion = confusion_matrix(positions, predicted, taxonomy.num_leaves)
    return {
        "n": len(positions),
        **result,
        "leaves": [taxonomy.nodes[index].path for index in taxonomy.leaves],
        "confusion": confusion.tolist(),
    }


def samples_evaluate(
    taxonomy: Taxonomy,
    leaf_probs: np.ndarray,
    predicted_path: np.ndarray,
    samples: Mapping[str, tuple[np.ndarray, np.ndarray]],
) -> dict[str, dict[str, Any]]:
    """:func:`sample_evaluate` for each named sample that has rows, in ``samples`` order.

    ``leaf_probs`` and ``predicted_path`` cover the whole pool; each sample is a pair of
    a boolean row mask and the pool's true leaf node index per row (read where the mask
    is set). Empty samples are left out of the result.
    """
    metrics: dict[str, dict[str, Any]] = {}
    for name, (rows, truth) in samples.items():
        rows = np.asarray(rows, dtype=bool)
        if rows.any():
            metrics[name] = sample_evaluate(
                taxonomy, leaf_probs[rows], predicted_path[rows], np.asarray(truth)[rows]
            )
    return metrics
