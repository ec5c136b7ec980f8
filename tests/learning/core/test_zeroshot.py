import numpy as np
import pytest

from learning.core.taxonomy import Taxonomy
from learning.core.zeroshot import (
    chils_combine,
    chils_leaf_probabilities,
    clip_logit_scale,
    clip_text_encoder,
    level_probabilities,
    node_prompts,
    node_text_embeddings,
)
from tests.learning.core.helpers import small, three_level


def level_sums(taxonomy: Taxonomy, leaf_probs: np.ndarray) -> list[np.ndarray]:
    return [
        taxonomy.level_probabilities(leaf_probs, level).sum(axis=1)
        for level in range(taxonomy.depth)
    ]


def one_hot_text(taxonomy: Taxonomy) -> np.ndarray:
    """Every node's text embedding is its own axis: similarities are set by hand."""
    return np.eye(len(taxonomy.nodes))


def image(taxonomy: Taxonomy, **weights: float) -> np.ndarray:
    row = np.zeros(len(taxonomy.nodes))
    for name, weight in weights.items():
        row[taxonomy.node_index(name)] = weight
    return row


def test_a_clear_fine_match_overrules_a_leaning_coarse_prediction():
    taxonomy = small()  # a: a1, a2; b: b1, b2
    # The coarse names lean to "a", but the image is plainly a "b1".
    images = np.stack([image(taxonomy, a=0.2, b=0.1, b1=0.9)])

    leaf_probs = chils_leaf_probabilities(images, one_hot_text(taxonomy), taxonomy, logit_scale=10)

    direct = level_probabilities(images, one_hot_text(taxonomy), taxonomy, logit_scale=10)
    assert direct[0].argmax() == 0  # the coarse names alone say "a"
    path = taxonomy.predict_top_down(leaf_probs)[0]
    assert [taxonomy.nodes[i].name for i in path] == ["b", "b1"]
    for sums in level_sums(taxonomy, leaf_probs):
        np.testing.assert_allclose(sums, 1.0, atol=1e-6)


def test_a_coarse_class_scores_its_best_fine_name_not_the_sum_of_them():
    taxonomy = Taxonomy.from_dict(
        {"name": "t", "levels": ["coarse", "fine"], "tree": {"a": ["a1", "a2", "a3"], "b": ["b1"]}}
    )
    coarse = np.array([[0.5, 0.5]])
    # Three vague "a" leaves hold more mass together (0.6) than the one clear "b1" (0.4).
    fine = np.array([[0.2, 0.2, 0.2, 0.4]])

    leaf_probs = chils_combine([coarse, fine], taxonomy)

    assert [taxonomy.nodes[i].name for i in taxonomy.predict_top_down(leaf_probs)[0]] == [
        "b",
        "b1",
    ]
    # b's share is its best leaf against a's best: 0.4 * 0.5 / (0.4 * 0.5 + 0.2 * 0.5).
    np.testing.assert_allclose(taxonomy.level_probabilities(leaf_probs, 0), [[1 / 3, 2 / 3]])
    # Under "a", the leaves keep their reweighted proportions.
    np.testing.assert_allclose(leaf_probs[0, :3], [1 / 9] * 3)


def test_every_level_sums_to_one_on_a_three_level_taxonomy():
    taxonomy = three_level()
    rng = np.random.default_rng(0)
    text = rng.normal(size=(len(taxonomy.nodes), 8))
    images = rng.normal(size=(20, 8)) * 5

    leaf_probs = chils_leaf_probabilities(images, text, taxonomy)

    assert leaf_probs.shape == (20, taxonomy.num_leaves)
    assert leaf_probs.dtype == np.float32 and (leaf_probs >= 0).all()
    for sums in level_sums(taxonomy, leaf_probs):
        np.testing.assert_allclose(sums, 1.0, atol=1e-5)


def test_a_flat_taxonomy_is_the_softmax_over_its_names():
    taxonomy = Taxonomy.from_dict({"name": "t", "levels": ["class"], "tree": ["cat", "dog"]})
    images = np.array([[1.0, 0.0], [0.2, 0.8]])

    leaf_probs = chils_leaf_probabilities(images, np.eye(2), taxonomy, logit_scale=1.0)

    similarity = images / np.linalg.norm(images, axis=1, keepdims=True)
    expected = np.exp(similarity) / np.exp(similarity).sum(axis=1, keepdims=True)
    np.testing.assert_allclose(leaf_probs, expected, rtol=1e-5)


def test_fine_prompts_carry_their_coarse_name():
    taxonomy = small()
    prompts = node_prompts(taxonomy, templates=("a photo of a {}.",))
    assert prompts[taxonomy.node_index("a")] == ["a photo of a a."]
    assert prompts[taxonomy.node_index("b2")] == ["a photo of a b2, a type of b."]


@pytest.fixture
def tiny_clip(monkeypatch):
    """A randomly initialised open_clip model and the bundled tokenizer: no downloads."""
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    import open_clip
    import torch
    from open_clip.model import CLIP, CLIPTextCfg, CLIPVisionCfg

    torch.manual_seed(0)
    model = CLIP(
        embed_dim=16,
        vision_cfg=CLIPVisionCfg(layers=1, width=32, patch_size=8, image_size=32, head_width=16),
        text_cfg=CLIPTextCfg(context_length=16, vocab_size=49408, width=32, heads=2, layers=1),
    )
    return model.eval(), open_clip.get_tokenizer("ViT-B-32", context_length=16)


def test_an_open_clip_model_scores_every_leaf_from_its_names(tiny_clip):
    import torch

    model, tokenizer = tiny_clip
    taxonomy = three_level()
    encode = clip_text_encoder(model, tokenizer, batch_size=7)  # several batches

    text = node_text_embeddings(node_prompts(taxonomy), encode)
    with torch.inference_mode():
        images = model.encode_image(torch.rand(5, 3, 32, 32)).numpy()
    leaf_probs = chils_leaf_probabilities(
        images, text, taxonomy, logit_scale=clip_logit_scale(model)
    )

    assert text.shape == (len(taxonomy.nodes), 16)
    np.testing.assert_allclose(np.linalg.norm(text, axis=1), 1.0, rtol=1e-6)
    assert leaf_probs.shape == (5, taxonomy.num_leaves)
    for sums in level_sums(taxonomy, leaf_probs):
        np.testing.assert_allclose(sums, 1.0, atol=1e-5)
    # An image whose embedding is a leaf's own text embedding is predicted as that leaf.
    leaf = taxonomy.node_index("dog")
    probs = chils_leaf_probabilities(
        text[[leaf]], text, taxonomy, logit_scale=clip_logit_scale(model)
    )
    assert taxonomy.predict_top_down(probs)[0, -1] == leaf
