import numpy as np
import pytest
import torch

from learning.core.label_review import (
    label_issues_find,
    labels_review,
    out_of_fold_probabilities,
)
from learning.core.scoring import score_embeddings
from learning.core.training import train_head
from tests.learning.core.helpers import small

LEAVES = ("a/a1", "a/a2", "b/b1", "b/b2")


@pytest.fixture(autouse=True)
def _few_threads():
    torch.set_num_threads(2)


def leaf_nodes(taxonomy, positions) -> np.ndarray:
    return np.asarray(taxonomy.leaves, dtype=np.int64)[np.asarray(positions)]


def confident(positions, classes: int = 4, top: float = 0.85) -> np.ndarray:
    """Leaf probabilities that put ``top`` on each row's leaf and spread the rest."""
    probs = np.full((len(positions), classes), (1.0 - top) / (classes - 1))
    probs[np.arange(len(positions)), positions] = top
    return probs


def blobs(per_class: dict[int, int], seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Well separated Gaussian clusters, one per leaf position, in 8 dimensions."""
    rng = np.random.default_rng(seed)
    centres = np.eye(4, 8) * 6.0
    positions = np.concatenate([np.full(count, leaf) for leaf, count in per_class.items()])
    embeddings = centres[positions] + rng.normal(0.0, 0.5, (len(positions), 8))
    return embeddings.astype(np.float32), positions


def test_a_planted_wrong_label_is_flagged_with_the_models_suggestion():
    taxonomy = small()
    truth = np.repeat(np.arange(4), 10)
    given = truth.copy()
    given[7] = 2  # an a1 item labelled b1
    out_of_fold = confident(truth)
    issues = label_issues_find(out_of_fold, leaf_nodes(taxonomy, given), taxonomy, 0.6)
    np.testing.assert_array_equal(issues.indices, [7])
    np.testing.assert_array_equal(issues.suggested, [taxonomy.node_index("a/a1")])
    np.testing.assert_allclose(issues.quality, [0.05])  # the probability of b1
    assert len(issues) == 1


def test_nothing_is_flagged_when_the_labels_agree_with_the_model():
    taxonomy = small()
    truth = np.repeat(np.arange(4), 10)
    issues = label_issues_find(confident(truth), leaf_nodes(taxonomy, truth), taxonomy, 0.6)
    assert len(issues) == 0
    assert issues.suggested.shape == (0,) and issues.quality.shape == (0,)


def test_a_level_whose_model_disagrees_too_often_is_not_trusted():
    taxonomy = small()
    truth = np.repeat(np.arange(4), 10)
    given = truth.copy()
    given[7] = 2
    # 39 of 40 agree at both levels: below a 100% bar, so neither level is reviewed.
    issues = label_issues_find(confident(truth), leaf_nodes(taxonomy, given), taxonomy, 1.0)
    assert len(issues) == 0


def test_only_the_fine_level_is_reviewed_when_every_label_shares_one_coarse_node():
    taxonomy = small()
    truth = np.repeat([0, 1], 10)  # a1 and a2 only: the coarse level has one class
    given = truth.copy()
    given[3] = 1  # an a1 item labelled a2, its sibling
    issues = label_issues_find(confident(truth), leaf_nodes(taxonomy, given), taxonomy, 0.6)
    np.testing.assert_array_equal(issues.indices, [3])
    np.testing.assert_array_equal(issues.suggested, [taxonomy.node_index("a/a1")])
    # With a single leaf the review has no second class to suggest at any level.
    single = label_issues_find(
        confident(np.repeat([0, 2], 10)), leaf_nodes(taxonomy, np.zeros(20, int)), taxonomy, 0.0
    )
    assert len(single) == 0


def test_out_of_fold_probabilities_come_from_heads_that_never_saw_the_row():
    taxonomy = small()
    # One b2 item only: a head trained on it calls it b2, a head without it cannot.
    embeddings, positions = blobs({0: 15, 1: 15, 2: 15, 3: 1})
    nodes = leaf_nodes(taxonomy, positions)
    lonely = len(positions) - 1
    seen = train_head(embeddings, nodes, taxonomy)
    in_sample = score_embeddings(seen, embeddings[lonely:], taxonomy).leaf_probs[0, 3]
    out_of_fold = out_of_fold_probabilities(embeddings, nodes, taxonomy, seed=3)
    assert out_of_fold.shape == (46, 4)
    np.testing.assert_allclose(out_of_fold.sum(axis=1), 1.0, rtol=1e-5)
    assert in_sample > 0.5 > out_of_fold[lonely, 3]
    assert (out_of_fold[:lonely].argmax(axis=1) == positions[:lonely]).mean() > 0.95
    np.testing.assert_array_equal(
        out_of_fold, out_of_fold_probabilities(embeddings, nodes, taxonomy, seed=3)
    )


def test_a_fold_holding_every_row_is_skipped():
    taxonomy = small()
    embeddings, positions = blobs({0: 1})
    out_of_fold = out_of_fold_probabilities(
        embeddings, leaf_nodes(taxonomy, positions), taxonomy, seed=0
    )
    np.testing.assert_array_equal(out_of_fold, np.zeros((1, 4)))


def test_reviewing_embeddings_finds_the_planted_mistakes():
    taxonomy = small()
    embeddings, truth = blobs({0: 15, 1: 15, 2: 15, 3: 15}, seed=1)
    given = truth.copy()
    given[[4, 40]] = [3, 0]  # an a1 labelled b2, a b1 labelled a1
    issues = labels_review(
        embeddings, leaf_nodes(taxonomy, given), taxonomy, seed=5, min_accuracy=0.6
    )
    np.testing.assert_array_equal(issues.indices, [4, 40])
    np.testing.assert_array_equal(issues.suggested, leaf_nodes(taxonomy, truth[[4, 40]]))
    assert (issues.quality < 0.5).all()
