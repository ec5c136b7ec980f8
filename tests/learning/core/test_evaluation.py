import numpy as np
import pytest

from learning.core.evaluation import (
    confusion_matrix,
    leaf_positions,
    predicted_path_level_probabilities,
    predicted_path_probability,
    sample_evaluate,
    samples_evaluate,
)
from learning.core.scoring import scores_from_probabilities
from tests.learning.core.helpers import random_probabilities, small, three_level

# Leaf order in the small taxonomy: a/a1, a/a2, b/b1, b/b2.
A1, A2, B1, B2 = np.eye(4) * 0.6 + 0.1


def nodes(taxonomy, *paths: str) -> np.ndarray:
    return np.array([taxonomy.node_index(path) for path in paths], dtype=np.int64)


def test_the_confusion_matrix_counts_true_rows_against_predicted_columns():
    confusion = confusion_matrix([0, 0, 1, 2, 2, 2], [0, 1, 1, 2, 0, 2], classes=3)
    np.testing.assert_array_equal(confusion, [[1, 1, 0], [0, 1, 0], [1, 0, 2]])
    assert confusion.dtype == np.int64
    np.testing.assert_array_equal(confusion_matrix([], [], classes=2), np.zeros((2, 2)))


def test_leaf_positions_are_columns_and_inner_nodes_are_refused():
    taxonomy = small()
    np.testing.assert_array_equal(
        leaf_positions(taxonomy, nodes(taxonomy, "b/b2", "a/a1", "b/b1")), [3, 0, 2]
    )
    with pytest.raises(ValueError):
        leaf_positions(taxonomy, nodes(taxonomy, "a"))


def test_the_path_probability_is_that_of_the_top_down_leaf_not_the_likeliest_leaf():
    taxonomy = small()
    # a1 is the likeliest leaf, but b (0.6) beats a (0.4), so the path is b -> b1.
    leaf_probs = np.array([[0.4, 0.0, 0.35, 0.25], [0.1, 0.6, 0.2, 0.1]])
    scores = scores_from_probabilities(leaf_probs, taxonomy)
    np.testing.assert_allclose(
        predicted_path_probability(taxonomy, scores.leaf_probs, scores.predicted_path),
        [0.35, 0.6],
        rtol=1e-6,
    )
    per_level = predicted_path_level_probabilities(
        taxonomy, scores.level_probs, scores.predicted_path
    )
    assert per_level.shape == (2, 2) and per_level.dtype == np.float32
    np.testing.assert_allclose(per_level, [[0.6, 0.35], [0.7, 0.6]], rtol=1e-6)


def test_level_probabilities_of_a_deeper_path_match_the_scores_columns():
    taxonomy = three_level()
    scores = scores_from_probabilities(random_probabilities(30, taxonomy.num_leaves), taxonomy)
    per_level = predicted_path_level_probabilities(
        taxonomy, scores.level_probs, scores.predicted_path
    )
    for level in range(taxonomy.depth):
        columns = np.searchsorted(taxonomy.level_nodes(level), scores.predicted_path[:, level])
        np.testing.assert_array_equal(
            per_level[:, level], scores.level_probs[level][np.arange(30), columns]
        )
    # Down the path each node holds part of its parent's mass, never more.
    assert (np.diff(per_level, axis=1) <= 1e-6).all()
    np.testing.assert_array_equal(
        per_level[:, -1],
        predicted_path_probability(taxonomy, scores.leaf_probs, scores.predicted_path),
    )


def test_a_sample_is_measured_per_level_with_its_confusion_matrix():
    taxonomy = small()
    leaf_probs = np.array([A1, A1, A2, B1, B2, B1])
    scores = scores_from_probabilities(leaf_probs, taxonomy)
    truth = nodes(taxonomy, "a/a1", "a/a2", "a/a2", "b/b1", "b/b2", "a/a1")
    metrics = sample_evaluate(taxonomy, scores.leaf_probs, scores.predicted_path, truth)
    assert metrics["n"] == 6
    assert metrics["acc_fine"] == pytest.approx(4 / 6)  # rows 1 (sibling) and 5 wrong
    assert metrics["acc_coarse"] == pytest.approx(5 / 6)  # row 5 wrong at the top
    assert metrics["accuracy"] == {"coarse": pytest.approx(5 / 6), "fine": pytest.approx(4 / 6)}
    assert metrics["mistake_severity"] == pytest.approx(1.5)  # one sibling, one unrelated
    assert metrics["leaves"] == ["a/a1", "a/a2", "b/b1", "b/b2"]
    assert metrics["confusion"] == [
        [1, 0, 1, 0],  # a1: once right, once taken for b1
        [1, 1, 0, 0],  # a2: once taken for its sibling a1
        [0, 0, 1, 0],
        [0, 0, 0, 1],
    ]
    assert all(isinstance(count, int) for row in metrics["confusion"] for count in row)


def test_samples_read_their_own_rows_and_empty_samples_are_left_out():
    taxonomy = small()
    leaf_probs = np.array([A1, B2, B2, A2])
    scores = scores_from_probabilities(leaf_probs, taxonomy)
    truth = nodes(taxonomy, "a/a1", "b/b2", "b/b1", "a/a2")
    gold_truth = np.array([-1, -1, truth[2], truth[3]])  # read only where the mask is set
    metrics = samples_evaluate(
        taxonomy,
        scores.leaf_probs,
        scores.predicted_path,
        {
            "shadow": (np.array([True, True, False, False]), truth),
            "empty": (np.zeros(4, dtype=bool), truth),
            "gold": (np.array([False, False, True, True]), gold_truth),
        },
    )
    assert list(metrics) == ["shadow", "gold"]
    assert metrics["shadow"]["n"] == 2 and metrics["shadow"]["acc_fine"] == 1.0
    assert metrics["gold"]["n"] == 2 and metrics["gold"]["acc_fine"] == 0.5
    assert metrics["gold"]["confusion"][2] == [0, 0, 0, 1]  # b1 taken for b2
