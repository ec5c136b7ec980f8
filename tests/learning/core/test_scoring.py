import numpy as np
import pytest
import torch

from learning.core.networks import build_network
from learning.core.scoring import score_embeddings, score_images, scores_from_probabilities
from tests.learning.core.helpers import (
    blob_images,
    random_probabilities,
    small,
    three_level,
    two_level,
)


@pytest.fixture(scope="module")
def scored():
    torch.set_num_threads(2)
    taxonomy = three_level()
    images = np.random.default_rng(0).integers(0, 256, (20, 32, 32, 3), dtype=np.uint8)
    network = build_network("small-resnet", taxonomy.num_leaves, seed=0)
    return taxonomy, network, images, score_images(network, images, taxonomy, batch_size=8)


def test_scores_have_one_column_per_level_and_one_row_per_image(scored):
    taxonomy, network, images, scores = scored
    assert len(scores) == 20
    assert scores.leaf_probs.shape == (20, 10)
    assert [p.shape for p in scores.level_probs] == [(20, 2), (20, 4), (20, 10)]
    for array in (scores.least_confidence, scores.margin, scores.entropy):
        assert array.shape == (20, 3) and np.isfinite(array).all()
    assert scores.predicted_path.shape == (20, 3)
    assert scores.embeddings.shape == (20, network.embedding_dim)


def test_level_probabilities_are_sums_of_leaf_probabilities(scored):
    taxonomy, _, _, scores = scored
    for level, probs in enumerate(scores.level_probs):
        np.testing.assert_allclose(probs.sum(axis=1), 1.0, atol=1e-5)
        np.testing.assert_allclose(
            probs, taxonomy.level_probabilities(scores.leaf_probs, level), atol=1e-6
        )
    np.testing.assert_array_equal(scores.leaf_probs, scores.level_probs[-1])


def test_scoring_with_folded_batchnorm_matches_the_network(scored):
    taxonomy, network, images, scores = scored
    batch = torch.from_numpy(images).permute(0, 3, 1, 2).float()
    with torch.no_grad():
        logits, embedding = network.eval()(batch)
    np.testing.assert_allclose(scores.leaf_probs, logits.softmax(dim=1).numpy(), atol=1e-5)
    np.testing.assert_allclose(scores.embeddings, embedding.numpy(), atol=1e-4)
    assert any(isinstance(m, torch.nn.BatchNorm2d) for m in network.modules())  # untouched


def test_scoring_does_not_depend_on_the_batch_size(scored):
    taxonomy, network, images, scores = scored
    again = score_images(network, images, taxonomy, batch_size=7)
    np.testing.assert_allclose(again.leaf_probs, scores.leaf_probs, atol=1e-5)


def test_rescoring_kept_embeddings_with_the_head_matches_full_scoring(scored):
    taxonomy, network, _, scores = scored
    rescored = score_embeddings(network.head, scores.embeddings, taxonomy)
    np.testing.assert_allclose(rescored.leaf_probs, scores.leaf_probs, atol=1e-5)


def test_uncertainty_measures_on_hand_made_probabilities():
    taxonomy = two_level()
    sure = np.eye(10)[[0]]
    unsure = np.full((1, 10), 0.1)
    scores = scores_from_probabilities(np.concatenate([sure, unsure]), taxonomy)
    # Coarse: vehicle holds 4 of the 10 uniform leaves.
    np.testing.assert_allclose(scores.least_confidence[:, 0], [0.0, 0.4], atol=1e-6)
    np.testing.assert_allclose(scores.margin[:, 0], [1.0, 0.2], atol=1e-6)
    np.testing.assert_allclose(scores.entropy[:, 1], [0.0, np.log(10)], atol=1e-5)
    random = scores_from_probabilities(random_probabilities(30, 10), taxonomy)
    assert (random.least_confidence >= 0).all() and (random.margin <= 1).all()


def test_patch_kmeans_features_are_finite_and_standardised():
    images, _ = blob_images(per_class=15, classes=4, size=16)
    network = build_network("patch-kmeans", 4, centroids=12)
    with pytest.raises(RuntimeError, match="fit"):
        score_images(network, images, small())
    network.backbone.fit(images, num_patches=3000, iterations=5)
    scores = score_images(network, images, small())
    assert scores.embeddings.shape == (60, 48) and np.isfinite(scores.embeddings).all()
    assert abs(scores.embeddings.mean()) < 0.5
