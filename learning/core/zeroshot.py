"""A first model before any label: zero-shot leaf probabilities from class names (CLIP).

CHiLS (Novack et al., "CHiLS: Zero-Shot Image Classification with Hierarchical Label
Sets", ICML 2023) scores a coarse class through its fine names, which CLIP recognises
better than the coarse name alone:

1. direct predictions at every level: a softmax over that level's class names, each
   embedded as the mean of a few prompt templates (CLIP's prompt ensembling); a fine
   name carries its parent's ("beagle, a type of dog"), as CHiLS's label sets do;
2. each leaf is reweighted by the direct probabilities of its ancestors,
   ``r(leaf) = p(leaf) * p(parent) * ...`` (the paper's ``p(sub) * p(super)``);
3. the coarse class is the one holding the best reweighted leaf: a class scores the
   *max* of its leaves' ``r``, not their sum, so one clear fine match beats many vague
   ones.

:func:`chils_combine` turns this into one distribution over the leaves whose sums agree
with the rule at every level: a node's share among its siblings is proportional to its
best leaf's ``r``, and a leaf's probability is the product of the shares down its path.
Top-down prediction (``Taxonomy.predict_top_down``) then picks CHiLS's coarse class and,
under it, the best reweighted leaf. A flat taxonomy reduces to the prompt-ensembled
softmax over the class names.

The open_clip glue (:func:`clip_text_encoder`) takes a model and a tokenizer by duck
type, so this module needs no open_clip: a project's CLIP backbone supplies them.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import torch

from learning.core.taxonomy import Taxonomy

# A few of CLIP's ImageNet templates: the ensemble matters more than the exact wording.
TEMPLATES = (
    "a photo of a {}.",
    "a good photo of a {}.",
    "a close-up photo of a {}.",
    "a low resolution photo of a {}.",
    "a photo of the large {}.",
    "a photo of the small {}.",
)
CLIP_LOGIT_SCALE = 100.0  # what trained CLIP models learn (their cap)


def node_label(taxonomy: Taxonomy, index: int) -> str:
    """A node's name, with its parent's below the top ("beagle, a type of dog")."""
    node = taxonomy.nodes[index]
    if node.parent < 0:
        return node.name
    return f"{node.name}, a type of {taxonomy.nodes[node.parent].name}"


def node_prompts(taxonomy: Taxonomy, templates: Sequence[str] = TEMPLATES) -> list[list[str]]:
    """The prompts of every node, by node index."""
    return [
        [template.format(node_label(taxonomy, node.index)) for template in templates]
        for node in taxonomy.nodes
    ]


def _unit(rows: np.ndarray) -> np.ndarray:
    rows = np.asarray(rows, dtype=np.float64)
    return rows / np.clip(np.linalg.norm(rows, axis=-1, keepdims=True), 1e-12, None)


def node_text_embeddings(
    prompts: Sequence[Sequence[str]], encode: Callable[[list[str]], np.ndarray]
) -> np.ndarray:
    """``(nodes, D)`` unit vectors: each node's prompts encoded, normalised and averaged."""
    flat = [prompt for node in prompts for prompt in node]
    encoded = _unit(encode(flat))
    bounds = np.cumsum([0, *(len(node) for node in prompts)])
    return _unit(
        np.stack([encoded[a:b].mean(axis=0) for a, b in zip(bounds[:-1], bounds[1:], strict=True)])
    )


def level_probabilities(
    image_embeddings: np.ndarray,
    node_embeddings: np.ndarray,
    taxonomy: Taxonomy,
    *,
    logit_scale: float = CLIP_LOGIT_SCALE,
) -> list[np.ndarray]:
    """The direct prediction at each level: ``(N, nodes on level)`` softmaxes of
    ``logit_scale`` times the cosine similarity, columns in ``level_nodes`` order."""
    similarity = _unit(image_embeddings) @ _unit(node_embeddings).T
    out = []
    for level in range(taxonomy.depth):
        logits = logit_scale * similarity[:, taxonomy.level_nodes(level)]
        logits -= logits.max(axis=1, keepdims=True)
        exp = np.exp(logits)
        out.append(exp / exp.sum(axis=1, keepdims=True))
    return out


def chils_combine(direct: Sequence[np.ndarray], taxonomy: Taxonomy) -> np.ndarray:
    """``(N, leaves)`` probabilities from the direct predictions of every level (CHiLS).

    ``direct[level]`` is ``(N, nodes on level)`` in ``level_nodes`` order. See the module
    docstring for the rule; every level's probabilities sum to 1.
    """
    count = len(direct[0])
    by_node = np.zeros((count, len(taxonomy.nodes)))
    for level, probs in enumerate(direct):
        by_node[:, taxonomy.level_nodes(level)] = probs
    # r(leaf): the leaf's direct probability times its ancestors'.
    reweighted = np.prod(by_node[:, taxonomy.leaf_ancestors], axis=2)
    best = np.stack(
        [reweighted[:, taxonomy.membership[node.index] > 0].max(axis=1) for node in taxonomy.nodes],
        axis=1,
    )
    best = np.clip(best, 1e-300, None)  # a row of zeros would divide by zero below
    parents = np.array([node.parent for node in taxonomy.nodes])
    siblings = np.zeros_like(best)
    for parent in np.unique(parents):
        members = parents == parent
        siblings[:, members] = best[:, members].sum(axis=1, keepdims=True)
    share = best / siblings
    leaf_probs = np.prod(share[:, taxonomy.leaf_ancestors], axis=2)
    return leaf_probs / leaf_probs.sum(axis=1, keepdims=True)


def chils_leaf_probabilities(
    image_embeddings: np.ndarray,
    node_embeddings: np.ndarray,
    taxonomy: Taxonomy,
    *,
    logit_scale: float = CLIP_LOGIT_SCALE,
) -> np.ndarray:
    """``(N, leaves)`` zero-shot probabilities of CLIP image embeddings (any scale).

    ``node_embeddings``: ``(nodes, D)`` text embeddings by node index
    (:func:`node_text_embeddings` of :func:`node_prompts`).
    """
    direct = level_probabilities(
        image_embeddings, node_embeddings, taxonomy, logit_scale=logit_scale
    )
    return chils_combine(direct, taxonomy).astype(np.float32)


def clip_text_encoder(
    model: torch.nn.Module, tokenizer: Callable, *, batch_size: int = 256
) -> Callable[[list[str]], np.ndarray]:
    """``encode(texts) -> (len(texts), D)`` with an open_clip model and its tokenizer."""
    device = next(model.parameters()).device

    @torch.inference_mode()
    def encode(texts: list[str]) -> np.ndarray:
        model.eval()
        parts = [
            model.encode_text(tokenizer(texts[start : start + batch_size]).to(device))
            for start in range(0, len(texts), batch_size)
        ]
        return torch.cat(parts).float().cpu().numpy()

    return encode


def clip_logit_scale(model: torch.nn.Module) -> float:
    """The model's learned temperature (``exp(logit_scale)``), capped as CLIP caps it."""
    scale = getattr(model, "logit_scale", None)
    if scale is None:
        return CLIP_LOGIT_SCALE
    return min(float(torch.as_tensor(scale).detach().exp()), CLIP_LOGIT_SCALE)
