"""The networks we define ourselves (the rest come from torchvision, timm or open_clip).

- ``SmallResNet``: a compact residual net for 32 px images that trains and scores fast
  on two CPU cores;
- ``cifar_resnet18``: torchvision's ResNet-18 with the CIFAR stem, the network that
  self-supervised pretraining on a GPU worker trains (``learning.gpu_pretrain``);
- ``PatchKMeansBackbone``: unsupervised single-layer features (Coates & Ng, 2011) learned
  from the unlabeled pool in seconds. On a CPU budget they beat any from-scratch CNN
  trained on a few thousand labels.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
import torchvision
from torch import nn


class BasicBlock(nn.Module):
    """Two 3x3 convolutions with a shortcut (He et al., 2016)."""

    def __init__(self, in_channels: int, out_channels: int, stride: int):
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, out_channels, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(out_channels)
        self.conv2 = nn.Conv2d(out_channels, out_channels, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(out_channels)
        self.shortcut: nn.Module = nn.Identity()
        if stride != 1 or in_channels != out_channels:
            self.shortcut = nn.Sequential(
                nn.Conv2d(in_channels, out_channels, 1, stride, bias=False),
                nn.BatchNorm2d(out_channels),
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.relu(self.bn1(self.conv1(x)))
        return F.relu(self.bn2(self.conv2(out)) + self.shortcut(x))


class SmallResNet(nn.Module):
    """A residual net for 32 px inputs: stem at full size, then three stages.

    Each stage halves the resolution, so most compute runs on 16x16 maps or smaller;
    about 15 MMAC per 32 px image with the default widths.
    """

    def __init__(self, widths: tuple[int, int, int] = (32, 64, 128)):
        super().__init__()
        self.stem = nn.Sequential(
            nn.Conv2d(3, widths[0], 3, 1, 1, bias=False), nn.BatchNorm2d(widths[0]), nn.ReLU()
        )
        stages, in_channels = [], widths[0]
        for width in widths:
            stages.append(BasicBlock(in_channels, width, stride=2))
            in_channels = width
        self.stages = nn.Sequential(*stages)
        self.embedding_dim = widths[-1]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.flatten(F.adaptive_avg_pool2d(self.stages(self.stem(x)), 1), 1)


def cifar_resnet18() -> nn.Module:
    """ResNet-18 for 32 px inputs, 512-d embeddings: a 3x3 stride-1 stem and no max-pool
    (He et al.'s CIFAR setting), so the four stages see 32, 16, 8 and 4 px maps rather
    than 8 px and less. Its state dict has torchvision's ``resnet18`` names, less ``fc``;
    only ``conv1.weight`` differs in shape (64, 3, 3, 3)."""
    model = torchvision.models.resnet18(weights=None)
    model.conv1 = nn.Conv2d(3, 64, 3, 1, 1, bias=False)
    model.maxpool = nn.Identity()
    model.fc = nn.Identity()
    return model


class PatchKMeansBackbone(nn.Module):
    """Single-layer unsupervised features: whitened k-means patch dictionary.

    Each ``patch`` x ``patch`` window is brightness/contrast normalised and ZCA-whitened;
    the "triangle" code ``max(0, mean_k(d) - d_k)`` of its distances ``d`` to ``k``
    centroids is average-pooled over the four image quadrants (Coates, Lee & Ng, 2011).
    All of it runs as convolutions. The output is standardised with statistics of the
    fitting pool so a linear head trains well. Call :meth:`fit` before use.
    """

    # Contrast normalisation and whitening constants for 0..255 pixels, as in Coates et al.
    _CONTRAST_EPSILON = 10.0
    _WHITENING_EPSILON = 0.1

    def __init__(self, centroids: int = 400, patch: int = 6):
        super().__init__()
        self.patch = patch
        dim = 3 * patch * patch
        self.register_buffer("whitening", torch.zeros(dim, dim))
        self.register_buffer("patch_mean", torch.zeros(dim))
        self.register_buffer("centroids", torch.zeros(centroids, dim))
        self.register_buffer("feature_mean", torch.zeros(4 * centroids))
        self.register_buffer("feature_std", torch.ones(4 * centroids))
        self.register_buffer("fitted", torch.tensor(False))
        self.embedding_dim = 4 * centroids

    def _normalise_patches(self, patches: torch.Tensor) -> torch.Tensor:
        mean = patches.mean(dim=1, keepdim=True)
        std = torch.sqrt(patches.var(dim=1, unbiased=False, keepdim=True) + self._CONTRAST_EPSILON)
        return (patches - mean) / std

    @torch.no_grad()
    def fit(
        self, images: np.ndarray, seed: int = 0, num_patches: int = 200_000, iterations: int = 10
    ) -> PatchKMeansBackbone:
        """Learn whitening and centroids from random patches of uint8 NHWC ``images``.

        At most 100 patches per image are drawn: more would only repeat themselves; but
        never fewer than the centroids, so that a pool of a few images can be fitted.
        """
        generator = np.random.default_rng(seed)
        num_patches = max(min(num_patches, 100 * len(images)), self.centroids.shape[0])
        size = images.shape[1]
        limit = size - self.patch + 1
        which = generator.integers(0, len(images), num_patches)
        rows = generator.integers(0, limit, num_patches)
        cols = generator.integers(0, limit, num_patches)
        offsets = np.arange(self.patch)
        patches = images[
            which[:, None, None],
            rows[:, None, None] + offsets[None, :, None],
            cols[:, None, None] + offsets[None, None, :],
        ]  # (n, p, p, 3)
        # Channel-major order matches conv2d weights of shape (out, 3, p, p).
        patches = torch.from_numpy(patches).permute(0, 3, 1, 2).reshape(num_patches, -1).float()
        patches = self._normalise_patches(patches)
        mean = patches.mean(dim=0)
        centred = patches - mean
        eigenvalues, eigenvectors = torch.linalg.eigh(centred.T @ centred / num_patches)
        whitening = eigenvectors @ torch.diag(1 / torch.sqrt(eigenvalues + self._WHITENING_EPSILON))
        whitening = whitening @ eigenvectors.T
        whitened = centred @ whitening.T

        torch_generator = torch.Generator().manual_seed(seed)
        count = self.centroids.shape[0]
        centroids = whitened[torch.randperm(num_patches, generator=torch_generator)[:count]].clone()
        squared_norms = (whitened * whitened).sum(dim=1, keepdim=True)
        for _ in range(iterations):
            distances = squared_norms - 2 * whitened @ centroids.T + (centroids**2).sum(dim=1)
            assignment = distances.argmin(dim=1)
            sums = torch.zeros_like(centroids).index_add_(0, assignment, whitened)
            counts = torch.bincount(assignment, minlength=count).float()
            # Empty clusters keep their previous centroid rather than collapsing to zero.
            filled = counts > 0
            centroids[filled] = sums[filled] / counts[filled, None]

        self.whitening.copy_(whitening)
        self.patch_mean.copy_(mean)
        self.centroids.copy_(centroids)
        self.fitted.fill_(True)
        sample = images[
            np.sort(generator.choice(len(images), min(len(images), 5000), replace=False))
        ]
        # Small batches: the (batch, centroids, 27, 27) distance maps are large.
        raw = torch.cat(
            [
                self._raw_features(
                    torch.from_numpy(sample[start : start + 64]).permute(0, 3, 1, 2).float()
                )
                for start in range(0, len(sample), 64)
            ]
        )
        self.feature_mean.copy_(raw.mean(dim=0))
        self.feature_std.copy_(raw.std(dim=0, correction=0) + 0.01)  # defined for one image
        return self

    def _raw_features(self, x: torch.Tensor) -> torch.Tensor:
        patch, dim = self.patch, self.whitening.shape[0]
        # Per-window mean and variance over the 3*p*p values, as pooled convolutions.
        window_mean = F.avg_pool2d(x.mean(dim=1, keepdim=True), patch, 1)
        window_square = F.avg_pool2d((x * x).mean(dim=1, keepdim=True), patch, 1)
        window_std = torch.sqrt(
            (window_square - window_mean**2).clamp_min(0) + self._CONTRAST_EPSILON
        )
        filters = self.whitening.reshape(dim, 3, patch, patch)
        whitened = F.conv2d(x, filters) - window_mean * self.whitening.sum(dim=1).view(1, -1, 1, 1)
        whitened = whitened / window_std - (self.whitening @ self.patch_mean).view(1, -1, 1, 1)
        centroids = self.centroids
        squared = (
            (whitened * whitened).sum(dim=1, keepdim=True)
            - 2 * F.conv2d(whitened, centroids.view(*centroids.shape, 1, 1))
            + (centroids * centroids).sum(dim=1).view(1, -1, 1, 1)
        )
        distances = squared.clamp_min(0).sqrt()
        codes = (distances.mean(dim=1, keepdim=True) - distances).clamp_min(0)
        return torch.flatten(F.adaptive_avg_pool2d(codes, 2), 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not bool(self.fitted):
            raise RuntimeError("PatchKMeansBackbone.fit() must run before the features are used")
        # Raw 0..255 pixels arrive here: this backbone's spec has mean 0, std 1.
        return (self._raw_features(x) - self.feature_mean) / self.feature_std
