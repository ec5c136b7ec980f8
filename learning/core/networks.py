"""Networks: a backbone that turns images into an embedding, and one output per leaf.

Architectures (``build_network(architecture, ...)``):

- ``small-resnet`` (default): a compact residual net for 32 px images that trains and
  scores fast on two CPU cores;
- ``resnet18``, ``mobilenet_v3_small``, ``efficientnet_b0``: torchvision models for
  larger images, their ImageNet classifier replaced by our leaf head;
- ``patch-kmeans``: unsupervised single-layer features (Coates & Ng, 2011) learned from
  the unlabeled pool in seconds. On a CPU budget they beat any from-scratch CNN trained on
  a few thousand labels, which is why the benchmark uses them.

Every network takes uint8-range float images ``(N, 3, H, W)`` (0..255) and normalises
them itself, so callers never have to remember the right mean and std.
Pretrained weights come only from a local file (``torch.load(weights_only=True)`` or
safetensors) or from a file already in torchvision's cache directory: nothing downloads.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
import torchvision
from torch import nn

ARCHITECTURES = (
    "small-resnet",
    "patch-kmeans",
    "resnet18",
    "mobilenet_v3_small",
    "efficientnet_b0",
)
TORCHVISION_CACHE = "torchvision-cache"

# ImageNet statistics in the 0..255 range; good enough for CIFAR-like images as well.
_MEAN = (0.485 * 255, 0.456 * 255, 0.406 * 255)
_STD = (0.229 * 255, 0.224 * 255, 0.225 * 255)


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

        At most 100 patches per image are drawn: more would only repeat themselves.
        """
        generator = np.random.default_rng(seed)
        num_patches = min(num_patches, 100 * len(images))
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
        self.feature_std.copy_(raw.std(dim=0) + 0.01)
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
        # LeafClassifier passes raw 0..255 pixels here (mean 0, std 1 for this backbone).
        return (self._raw_features(x) - self.feature_mean) / self.feature_std


class LeafClassifier(nn.Module):
    """Backbone -> embedding -> one logit per taxonomy leaf.

    ``forward`` takes 0..255 float images (NCHW, any memory format) and returns
    ``(logits, embedding)``. ``head`` alone maps kept embeddings to logits, which is
    what makes retraining the head in seconds possible.
    """

    def __init__(self, architecture: str, backbone: nn.Module, embedding_dim: int, num_leaves: int):
        super().__init__()
        self.architecture = architecture
        self.backbone = backbone
        self.head = nn.Linear(embedding_dim, num_leaves)
        # The k-means backbone normalises patches itself and wants raw pixels.
        raw_pixels = architecture == "patch-kmeans"
        self.register_buffer(
            "mean", torch.tensor((0.0,) * 3 if raw_pixels else _MEAN).view(1, 3, 1, 1)
        )
        self.register_buffer(
            "std", torch.tensor((1.0,) * 3 if raw_pixels else _STD).view(1, 3, 1, 1)
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


def _strip_classifier(architecture: str, model: nn.Module) -> int:
    """Replace the ImageNet classifier with Identity; return the embedding size."""
    if architecture == "resnet18":
        dim = model.fc.in_features
        model.fc = nn.Identity()
    elif architecture == "mobilenet_v3_small":
        dim = model.classifier[0].in_features
        model.classifier = nn.Identity()
    else:  # efficientnet_b0
        dim = model.classifier[1].in_features
        model.classifier = nn.Identity()
    return dim


def read_state_dict(path: str | Path) -> dict[str, torch.Tensor]:
    """Tensors from a local ``.safetensors`` file or a ``torch.save`` file (weights only).

    Accepts a bare state dict or a dict holding one under ``state_dict`` / ``model``.
    """
    path = Path(path)
    if path.suffix == ".safetensors":
        from safetensors.torch import load_file

        return load_file(str(path))
    data = torch.load(path, map_location="cpu", weights_only=True)
    for key in ("state_dict", "model"):
        if isinstance(data, dict) and isinstance(data.get(key), dict):
            data = data[key]
    if not isinstance(data, dict):
        raise ValueError(f"{path} does not hold a state dict")
    return data


def torchvision_cached_weights(architecture: str) -> Path | None:
    """The ImageNet weights file for ``architecture`` if it is already in torch's cache."""
    enum_name = {
        "resnet18": "ResNet18_Weights",
        "mobilenet_v3_small": "MobileNet_V3_Small_Weights",
        "efficientnet_b0": "EfficientNet_B0_Weights",
    }.get(architecture)
    if enum_name is None:
        return None
    url = getattr(torchvision.models, enum_name).DEFAULT.url
    candidate = Path(torch.hub.get_dir()) / "checkpoints" / url.rsplit("/", 1)[-1]
    return candidate if candidate.is_file() else None


def _load_matching(model: nn.Module, state: dict[str, torch.Tensor], source: str) -> None:
    """Load every tensor whose name and shape match; refuse a file that matches nothing."""
    own = model.state_dict()
    matching = {k: v for k, v in state.items() if k in own and own[k].shape == v.shape}
    if not matching:
        raise ValueError(f"no weights in {source} match this architecture")
    model.load_state_dict(matching, strict=False)


def build_network(
    architecture: str = "small-resnet",
    num_leaves: int = 10,
    weights: str | Path | None = None,
    seed: int = 0,
    centroids: int = 400,
) -> LeafClassifier:
    """A :class:`LeafClassifier` for ``num_leaves`` outputs.

    ``weights``: ``None`` (from scratch, seeded), a local file path for the backbone
    (``.safetensors`` or a ``torch.save`` state dict), or ``"torchvision-cache"`` to use
    ImageNet weights already present in torchvision's cache (from scratch if absent).
    ``patch-kmeans`` must then be fitted: ``network.backbone.fit(pool_images)``.
    """
    if architecture not in ARCHITECTURES:
        raise ValueError(f"unknown architecture {architecture!r}; choose from {ARCHITECTURES}")
    torch.manual_seed(seed)
    backbone: nn.Module
    if architecture == "small-resnet":
        backbone = SmallResNet()
        dim = backbone.embedding_dim
    elif architecture == "patch-kmeans":
        backbone = PatchKMeansBackbone(centroids=centroids)
        dim = backbone.embedding_dim
    else:
        # Random init, ImageNet classifier kept so an ImageNet file loads fully.
        backbone = getattr(torchvision.models, architecture)(weights=None)
    source = torchvision_cached_weights(architecture) if weights == TORCHVISION_CACHE else weights
    if source is not None:
        _load_matching(backbone, read_state_dict(source), str(source))
    if architecture not in ("small-resnet", "patch-kmeans"):
        dim = _strip_classifier(architecture, backbone)
    return LeafClassifier(architecture, backbone, dim, num_leaves)
