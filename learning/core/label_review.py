"""Label review: human labels that confident learning (cleanlab) finds unlikely.

cleanlab needs out-of-sample probabilities: each label is judged by a head trained on
k-fold splits that never saw it. The review runs per level, and only on levels where
those probabilities agree with the given labels often enough to be trusted: early on
that is the coarse level alone, which is also where mistakes cost most.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from learning.core.evaluation import leaf_positions
from learning.core.scoring import score_embeddings
from learning.core.taxonomy import Taxonomy
from learning.core.training import HeadConfig, train_head

FOLDS = 5


@dataclass(frozen=True)
class LabelIssues:
    """The labels flagged for review, each with what the out-of-fold model suggests.

    - ``indices`` ``(M,)``: positions of the flagged labels among those reviewed, ascending;
    - ``suggested`` ``(M,)``: the leaf node index the model predicts (top-down) instead;
    - ``quality`` ``(M,)``: the out-of-fold probability of the given leaf.
    """

    indices: np.ndarray
    suggested: np.ndarray
    quality: np.ndarray

    def __len__(self) -> int:
        return len(self.indices)


def out_of_fold_probabilities(
    embeddings: np.ndarray,
    leaf_nodes: np.ndarray,
    taxonomy: Taxonomy,
    seed: int,
    folds: int = FOLDS,
) -> np.ndarray:
    """``(N, leaves)`` leaf probabilities, each row from a head that never saw its label.

    Rows are assigned to ``folds`` folds at random (``seed``); a fold with every row or
    no row is skipped, so its rows keep all-zero probabilities.
    """
    leaf_nodes = np.asarray(leaf_nodes, dtype=np.int64)
    fold_of = np.random.default_rng(seed).integers(0, folds, len(leaf_nodes))
    probabilities = np.zeros((len(leaf_nodes), taxonomy.num_leaves), dtype=np.float64)
    for fold in range(folds):
        held = fold_of == fold
        if held.all() or not held.any():
            continue
        head = train_head(
            embeddings[~held],
            leaf_nodes[~held],
            taxonomy,
            config=HeadConfig(self_training_rounds=0),
        )
        probabilities[held] = score_embeddings(head, embeddings[held], taxonomy).leaf_probs
    return probabilities


def label_issues_find(
    out_of_fold: np.ndarray,
    leaf_nodes: np.ndarray,
    taxonomy: Taxonomy,
    min_accuracy: float,
) -> LabelIssues:
    """Labels cleanlab flags (``filter_by="both"``) at any trusted level.

    ``out_of_fold`` ``(N, leaves)`` are out-of-sample leaf probabilities and
    ``leaf_nodes`` ``(N,)`` the given labels as leaf node indices. At each level the
    probabilities are restricted to the classes that occur among the given labels and
    renormalised; a level takes part when it has at least two such classes and the
    argmax agrees with the given label on at least ``min_accuracy`` of the rows.
    """
    from cleanlab.filter import find_label_issues

    out_of_fold = np.asarray(out_of_fold, dtype=np.float64)
    given_leaf = leaf_positions(taxonomy, leaf_nodes)
    given_path = taxonomy.leaf_ancestors[given_leaf]
    flagged = np.zeros(len(given_leaf), dtype=bool)
    for level in range(taxonomy.depth):
        column = {node: position for position, node in enumerate(taxonomy.level_nodes(level))}
        given = np.array([column[node] for node in given_path[:, level]])
        probs = taxonomy.level_probabilities(out_of_fold, level)
        classes, given = np.unique(given, return_inverse=True)
        probs = probs[:, classes]
        probs /= np.clip(probs.sum(axis=1, keepdims=True), 1e-12, None)
        trusted = (probs.argmax(axis=1) == given).mean() >= min_accuracy
        if len(classes) >= 2 and trusted:
            # n_jobs=1: a Celery pool process is daemonic and may not start a pool of its own.
            flagged |= find_label_issues(labels=given, pred_probs=probs, filter_by="both", n_jobs=1)
    indices = np.flatnonzero(flagged)
    return LabelIssues(
        indices=indices,
        suggested=taxonomy.predict_top_down(out_of_fold[indices])[:, -1],
        quality=out_of_fold[indices, given_leaf[indices]],
    )


def labels_review(
    embeddings: np.ndarray,
    leaf_nodes: np.ndarray,
    taxonomy: Taxonomy,
    seed: int,
    min_accuracy: float,
    folds: int = FOLDS,
) -> LabelIssues:
    """Review human leaf labels on their embeddings: k-fold heads, then cleanlab.

    ``embeddings`` ``(N, D)`` and ``leaf_nodes`` ``(N,)`` (leaf node indices) are the
    labelled rows; see :func:`out_of_fold_probabilities` and :func:`label_issues_find`.
    """
    out_of_fold = out_of_fold_probabilities(embeddings, leaf_nodes, taxonomy, seed, folds)
    return label_issues_find(out_of_fold, leaf_nodes, taxonomy, min_accuracy)
