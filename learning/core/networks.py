"""A classifier for a taxonomy: a backbone (``learning.core.backbones``), one logit per leaf.

Every network takes uint8-range float images ``(N, 3, H, W)`` (0..255) and normalises
them itself with its backbone's statistics, so callers never have to remember the right
mean and std.
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from learning.core.backbones import IMAGENET_MEAN, IMAGENET_STD, Backbone, backbone_create

_PIXEL_MEAN = tuple(value * 255 for value in IMAGENET_MEAN)
_PIXEL_STD = tuple(value * 255 for value in IMAGENET_STD)


class LeafClassifier(nn.Module):
    """Backbone -> embedding -> one logit per taxonomy leaf.

    ``forward`` takes 0..255 float images (NCHW, any memory format) and returns
    ``(logits, embedding)``. ``head`` alone maps kept embeddings to logits, which is
    what makes retraining the head in seconds possible. ``backbone`` is the trunk (for
    ``patch-kmeans``, the module to ``fit`` on the pool); ``mean`` and ``std`` normalise
    0..255 pixels for it (ImageNet's by default).
    """

    def __init__(
        self,
        architecture: str,
        backbone: nn.Module,
        embedding_dim: int,
        num_leaves: int,
        mean: tuple[float, float, float] = _PIXEL_MEAN,
        std: tuple[float, float, float] = _PIXEL_STD,
    ):
        super().__init__()
        self.architecture = architecture
        self.backbone = backbone
        self.head = nn.Linear(embedding_dim, num_leaves)
        self.register_buffer("mean", torch.tensor(mean).view(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor(std).view(1, 3, 1, 1))

    @classmethod
    def on(cls, backbone: Backbone, num_leaves: int) -> LeafClassifier:
        """A classifier sharing ``backbone``'s trunk and normalisation."""
        spec = backbone.spec
        return cls(
            spec.name, backbone.trunk, backbone.embedding_dim, num_leaves, spec.mean, spec.std
        )

    @property
    def embedding_dim(self) -> int:
        return self.head.in_features

    def embed(self, images: torch.Tensor) -> torch.Tensor:
        """Embeddings ``(N, D)`` of 0..255 float images."""
        return self.backbone((images - self.mean) / self.std)

    def forward(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        embedding = self.embed(images)
        return self.head(embedding), embedding


def build_network(
    architecture: str = "small-resnet",
    num_leaves: int = 10,
    weights: str | Path | None = None,
    seed: int = 0,
    centroids: int = 400,
) -> LeafClassifier:
    """A :class:`LeafClassifier` for ``num_leaves`` outputs on a backbone by name.

    ``weights``: ``None`` (a seeded random backbone: to train from scratch, or to load a
    checkpoint over) or a local file for the backbone (``.safetensors`` or a weights-only
    ``torch.save`` state dict). ``patch-kmeans`` must then be fitted:
    ``network.backbone.fit(pool_images)``.
    """
    backbone = backbone_create(
        architecture, weights=weights, pretrained=False, seed=seed, centroids=centroids
    )
    return LeafClassifier.on(backbone, num_leaves)
