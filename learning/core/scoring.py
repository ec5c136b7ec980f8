"""Scoring the pool: probabilities at every level, uncertainty per level, embeddings.

Two entry points share one result type:

- :func:`score_images` runs the whole network on uint8 images (batched,
  ``inference_mode``, channels-last) and keeps the embeddings;
- :func:`score_embeddings` runs only the head on kept embeddings, which is what makes
  rescoring the pool after a head retrain nearly free.

Margins follow modAL's convention: ``p(top1) - p(top2)``, small means uncertain.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn
from torch.fx.experimental.optimization import fuse

from learning.core.networks import LeafClassifier
from learning.core.taxonomy import Taxonomy


@dataclass(frozen=True)
class PoolScores:
    """Scores for N pool items under one taxonomy of depth K.

    - ``leaf_probs`` ``(N, leaves)``; ``level_probs[k]`` ``(N, nodes on level k)`` with
      columns in ``taxonomy.level_nodes(k)`` order;
    - ``predicted_path`` ``(N, K)`` top-down node indices;
    - ``least_confidence``, ``margin``, ``entropy`` ``(N, K)``: per level, over that
      level's node probabilities;
    - ``embeddings`` ``(N, D)`` or ``None`` when only probabilities were given.
    """

    leaf_probs: np.ndarray
    level_probs: tuple[np.ndarray, ...]
    predicted_path: np.ndarray
    least_confidence: np.ndarray
    margin: np.ndarray
    entropy: np.ndarray
    embeddings: np.ndarray | None

    def __len__(self) -> int:
        return len(self.leaf_probs)


def _uncertainties(probs: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Least confidence, margin (top1 - top2) and entropy (nats) of each row."""
    if probs.shape[1] == 1:
        zeros = np.zeros(len(probs))
        return zeros, np.ones(len(probs)), zeros
    top_two = -np.partition(-probs, 1, axis=1)[:, :2]
    clipped = np.clip(probs, 1e-12, 1.0)
    entropy = -(probs * np.log(clipped)).sum(axis=1)
    return 1.0 - top_two[:, 0], top_two[:, 0] - top_two[:, 1], entropy


def scores_from_probabilities(
    leaf_probs: np.ndarray, taxonomy: Taxonomy, embeddings: np.ndarray | None = None
) -> PoolScores:
    """All per-level scores from leaf probabilities (one softmax over the leaves)."""
    leaf_probs = np.asarray(leaf_probs, dtype=np.float32).reshape(-1, taxonomy.num_leaves)
    level_probs = tuple(
        taxonomy.level_probabilities(leaf_probs, level).astype(np.float32)
        for level in range(taxonomy.depth)
    )
    # (3, N, K): least confidence, margin and entropy, each per level.
    per_level = np.stack([np.stack(_uncertainties(p)) for p in level_probs], axis=2)
    per_level = per_level.astype(np.float32)
    return PoolScores(
        leaf_probs=leaf_probs,
        level_probs=level_probs,
        predicted_path=taxonomy.predict_top_down(leaf_probs),
        least_confidence=per_level[0],
        margin=per_level[1],
        entropy=per_level[2],
        embeddings=embeddings,
    )


def _batches(count: int, batch_size: int) -> range:
    return range(0, count, max(1, batch_size))


def inference_copy(network: LeafClassifier) -> LeafClassifier:
    """An eval-mode copy with every Conv+BatchNorm pair folded into one convolution.

    Same outputs, one pass less over each activation map: on two CPU cores that is a
    large share of a small network's time. Networks without BatchNorm are returned as is.
    """
    network.eval()
    if not any(isinstance(module, nn.BatchNorm2d) for module in network.modules()):
        return network
    fused = copy.deepcopy(network)
    fused.backbone = fuse(fused.backbone)
    return fused


def embed_and_predict(
    network: LeafClassifier, images: np.ndarray, batch_size: int = 128
) -> tuple[np.ndarray, np.ndarray]:
    """``(leaf_probs, embeddings)`` for uint8 NHWC ``images``, in inference mode.

    The network is put in eval mode; scoring runs on :func:`inference_copy`, so its
    weights keep their values.
    NHWC uint8 permuted to NCHW already has channels-last strides, so batches reach the
    convolutions without a layout copy.
    """
    # Channels-last weights match the channels-last input below (oneDNN's fast path).
    network = inference_copy(network).to(memory_format=torch.channels_last)
    count = len(images)
    probs = np.empty((count, network.head.out_features), dtype=np.float32)
    embeddings = np.empty((count, network.embedding_dim), dtype=np.float32)
    with torch.inference_mode():
        for start in _batches(count, batch_size):
            # A copy: the pool may be a read-only memory map, which torch will not wrap.
            batch = torch.from_numpy(np.array(images[start : start + batch_size]))
            batch = batch.permute(0, 3, 1, 2).float()
            logits, embedding = network(batch)
            probs[start : start + len(batch)] = logits.softmax(dim=1).numpy()
            embeddings[start : start + len(batch)] = embedding.numpy()
    return probs, embeddings


def score_images(
    network: LeafClassifier, images: np.ndarray, taxonomy: Taxonomy, batch_size: int = 128
) -> PoolScores:
    """Score uint8 NHWC images with the full network; keeps the embeddings."""
    probs, embeddings = embed_and_predict(network, images, batch_size)
    return scores_from_probabilities(probs, taxonomy, embeddings)


def score_embeddings(
    head: nn.Linear, embeddings: np.ndarray, taxonomy: Taxonomy, batch_size: int = 8192
) -> PoolScores:
    """Score kept embeddings with the head only (rescoring after a head retrain)."""
    embeddings = np.asarray(embeddings, dtype=np.float32)
    probs = np.empty((len(embeddings), head.out_features), dtype=np.float32)
    with torch.inference_mode():
        for start in _batches(len(embeddings), batch_size):
            chunk = torch.from_numpy(embeddings[start : start + batch_size])
            probs[start : start + len(chunk)] = head(chunk).softmax(dim=1).numpy()
    return scores_from_probabilities(probs, taxonomy, embeddings)
