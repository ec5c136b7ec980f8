"""Backbones by name: what turns a photo into an embedding, at its own resolution.

A :class:`BackboneSpec` says what a backbone needs from the decoder (shorter side to
``resize``, centre ``crop``, interpolation) and how it normalises pixels, taken from its
weights' metadata (torchvision's ``Weights.transforms()``, timm's pretrained config,
open_clip's model config): nothing is downloaded to know them.

Names:

- ``patch-kmeans``: unsupervised features fitted on the project's own pool at 32 px
  (CPU, no weights);
- ``small-resnet``: our 32 px residual net; random features unless given weights (from
  self-supervised pretraining, for instance);
- ``cifar-resnet18``: a ResNet-18 with the CIFAR stem at 32 px; random features unless
  given weights (``learning.gpu_pretrain`` writes them);
- torchvision classifiers (``resnet18``, ``resnet50``, ``convnext_tiny``,
  ``efficientnet_b0``, ``vit_b_16``, ``mobilenet_v3_small``), ImageNet classifier removed;
- ``timm:<model>`` and ``open_clip:<model>`` when those packages are installed
  (``requirements-extras.txt``).

Weights (:func:`weights_locate`): a local file (``.safetensors`` or a weights-only
``torch.save`` file), else the pretrained file in torch hub's (or Hugging Face's) cache,
else a download only when the caller allows it; otherwise :class:`WeightsMissing` names
the file expected and where to put it. Nothing ever falls back to random weights.
"""

from __future__ import annotations

import importlib.util
import math
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torchvision
from PIL import Image
from torch import nn

from learning.core.architectures import PatchKMeansBackbone, SmallResNet, cifar_resnet18
from learning.core.decode import images_stream

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
TORCHVISION = {
    "resnet18": "ImageNet ResNet-18, 512-d: the fast pretrained choice on a CPU",
    "resnet50": "ImageNet ResNet-50, 2048-d: better features, about 4x resnet18's time",
    "convnext_tiny": "ImageNet ConvNeXt-T, 768-d: strong features, GPU advised",
    "efficientnet_b0": "ImageNet EfficientNet-B0, 1280-d: light and accurate",
    "vit_b_16": "ImageNet ViT-B/16, 768-d: a transformer, GPU advised",
    "mobilenet_v3_small": "ImageNet MobileNet-V3-S, 1024-d: the lightest pretrained net",
}
EXTRAS = {"timm": "timm", "open_clip": "open_clip"}  # name prefix -> module to import


class WeightsMissing(Exception):
    """A backbone's weights are not where they must be; ``path`` is the file expected."""

    def __init__(self, message: str, path: Path | None):
        super().__init__(message)
        self.path = path


@dataclass(frozen=True)
class BackboneSpec:
    """What a backbone needs: decoding size, normalisation (0..255 pixels), weights."""

    name: str
    summary: str  # one line, for a lead choosing it
    crop: int
    resize: int
    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    interpolation: str = "bilinear"
    pretrained: bool = True  # useless without pretrained weights
    fitted: bool = False  # learned from the unlabeled pool (patch-kmeans)
    hub_url: str = ""  # torchvision: the weights' URL, whose file torch hub caches
    hub_id: str = ""  # timm: the Hugging Face repository of the weights


def _pixels(values) -> tuple[float, float, float]:
    return tuple(round(float(value) * 255, 4) for value in values)  # type: ignore[return-value]


def _torchvision_spec(name: str) -> BackboneSpec:
    weights = torchvision.models.get_model_weights(name).DEFAULT
    preset = weights.transforms()
    return BackboneSpec(
        name=name,
        summary=TORCHVISION[name],
        crop=preset.crop_size[0],
        resize=preset.resize_size[0],
        mean=_pixels(preset.mean),
        std=_pixels(preset.std),
        interpolation=preset.interpolation.value,
        hub_url=weights.url,
    )


BUILT_IN: dict[str, BackboneSpec] = {
    "patch-kmeans": BackboneSpec(
        name="patch-kmeans",
        summary="Unsupervised features fitted on this pool at 32 px: CPU only, no weights",
        crop=32,
        resize=32,
        # The k-means features normalise each patch themselves: raw 0..255 pixels.
        mean=(0.0, 0.0, 0.0),
        std=(1.0, 1.0, 1.0),
        pretrained=False,
        fitted=True,
    ),
    "small-resnet": BackboneSpec(
        name="small-resnet",
        summary="Compact 32 px CNN: random features unless given pretrained weights",
        crop=32,
        resize=32,
        mean=_pixels(IMAGENET_MEAN),
        std=_pixels(IMAGENET_STD),
        pretrained=False,
    ),
    "cifar-resnet18": BackboneSpec(
        name="cifar-resnet18",
        summary="ResNet-18 with the CIFAR stem at 32 px, 512-d: for self-supervised weights "
        "pretrained on a GPU",
        crop=32,
        resize=32,
        mean=_pixels(IMAGENET_MEAN),
        std=_pixels(IMAGENET_STD),
        pretrained=False,
    ),
    **{name: _torchvision_spec(name) for name in TORCHVISION},
}


def _extra(name: str) -> tuple[str, str] | None:
    """``("timm", "resnet50.a1_in1k")`` for ``timm:resnet50.a1_in1k``; None if built in."""
    prefix, _, model = name.partition(":")
    if prefix not in EXTRAS or not model:
        return None
    if importlib.util.find_spec(EXTRAS[prefix]) is None:
        raise ValueError(
            f"{name}: {prefix} is not installed (pip install -r requirements-extras.txt)"
        )
    return prefix, model


def extras_available() -> list[str]:
    """The optional packages installed here: their backbones are ``<prefix>:<model>``."""
    return [prefix for prefix, module in EXTRAS.items() if importlib.util.find_spec(module)]


def _timm_spec(name: str, model: str) -> BackboneSpec:
    import timm

    config = timm.models.get_pretrained_cfg(model)
    if config is None:
        raise ValueError(f"{name}: timm knows no model {model!r}")
    crop = config.input_size[-1]
    return BackboneSpec(
        name=name,
        summary=f"timm {model}",
        crop=crop,
        resize=int(math.floor(crop / config.crop_pct)),
        mean=_pixels(config.mean),
        std=_pixels(config.std),
        interpolation=config.interpolation or "bicubic",
        hub_id=config.hf_hub_id or "",
    )


def _open_clip_spec(name: str, model: str) -> BackboneSpec:
    import open_clip

    config = open_clip.get_model_config(model)
    if config is None:
        raise ValueError(f"{name}: open_clip knows no model {model!r}")
    size = config["vision_cfg"]["image_size"]
    size = size if isinstance(size, int) else size[0]
    preprocess = config.get("preprocess_cfg", {})
    return BackboneSpec(
        name=name,
        summary=f"open_clip {model} (image tower)",
        crop=size,
        resize=size,
        mean=_pixels(preprocess.get("mean", open_clip.OPENAI_DATASET_MEAN)),
        std=_pixels(preprocess.get("std", open_clip.OPENAI_DATASET_STD)),
        interpolation=preprocess.get("interpolation", "bicubic"),
    )


def backbone_spec(name: str) -> BackboneSpec:
    """The spec of a backbone name; ValueError naming the choices for an unknown one."""
    if name in BUILT_IN:
        return BUILT_IN[name]
    extra = _extra(name)
    if extra is None:
        choices = ", ".join([*BUILT_IN, *(f"{prefix}:<model>" for prefix in extras_available())])
        raise ValueError(f"unknown backbone {name!r}; choose from {choices}")
    prefix, model = extra
    return _timm_spec(name, model) if prefix == "timm" else _open_clip_spec(name, model)


# -- weights ----------------------------------------------------------------------------


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


def _hub_file(spec: BackboneSpec) -> Path | None:
    """Where the standard caches keep ``spec``'s pretrained weights (they may be absent)."""
    if spec.hub_url:
        return Path(torch.hub.get_dir()) / "checkpoints" / spec.hub_url.rsplit("/", 1)[-1]
    if spec.hub_id:
        from huggingface_hub import try_to_load_from_cache

        cached = try_to_load_from_cache(spec.hub_id, "model.safetensors")
        return Path(cached) if isinstance(cached, str) else None
    return None


def _download(spec: BackboneSpec, target: Path | None) -> Path:
    if spec.hub_url and target is not None:
        target.parent.mkdir(parents=True, exist_ok=True)
        torch.hub.download_url_to_file(spec.hub_url, str(target), progress=False)
        return target
    from huggingface_hub import hf_hub_download

    return Path(hf_hub_download(spec.hub_id, "model.safetensors"))


def weights_locate(
    spec: BackboneSpec,
    weights: str | Path | None = None,
    *,
    allow_downloads: bool = False,
    fetch: bool = True,
    weights_dir: Path | None = None,
) -> Path | None:
    """The file holding ``spec``'s weights; None for a backbone that needs none.

    ``weights`` (a path) must exist. Without it a pretrained backbone takes the file in
    torch hub's (or, for timm, Hugging Face's) cache, or downloads it when
    ``allow_downloads`` (only if ``fetch``: a check answers the path it would fill).
    Otherwise :class:`WeightsMissing` says which file to put where (``weights_dir``: the
    folder an operator puts weights files into).
    """
    elsewhere = (
        f", or put a .safetensors or weights-only .pt state dict in {weights_dir} and choose it"
        if weights_dir
        else ""
    )
    if weights is not None:
        path = Path(weights)
        if not path.is_file():
            raise WeightsMissing(
                f"{spec.name}: the weights file {path} does not exist; put the .safetensors "
                "or weights-only .pt state dict there",
                path,
            )
        return path
    if not spec.pretrained:
        return None
    cached = _hub_file(spec)
    if cached is not None and cached.is_file():
        return cached
    if allow_downloads and (spec.hub_url or spec.hub_id):
        return _download(spec, cached) if fetch else cached
    if cached is not None:
        raise WeightsMissing(
            f"{spec.name} needs its pretrained weights: put {cached.name} in {cached.parent} "
            f"(from {spec.hub_url or spec.hub_id}){elsewhere}, or let the server download "
            "them (ARBOR_ALLOW_DOWNLOADS=true)",
            cached,
        )
    if spec.hub_id:
        from huggingface_hub.constants import HF_HUB_CACHE

        raise WeightsMissing(
            f"{spec.name} needs its pretrained weights: model.safetensors of {spec.hub_id} in "
            f"the Hugging Face cache ({HF_HUB_CACHE}){elsewhere}, or let the server download "
            "them (ARBOR_ALLOW_DOWNLOADS=true)",
            weights_dir,
        )
    raise WeightsMissing(
        f"{spec.name} needs a weights file{elsewhere or ' (--weights FILE)'}", weights_dir
    )


def weights_load(model: nn.Module, state: dict[str, torch.Tensor], source: str) -> None:
    """Load the file's tensors into ``model``, which must find every one of its own there
    with its shape: a file of another architecture that shares some names (an ImageNet
    resnet18 in a CIFAR one) is refused, never loaded in part. Tensors the model lacks
    (an ImageNet classifier) are ignored, and so are BatchNorm's batch counters, which
    many published files leave out."""
    own = model.state_dict()
    wrong = [
        name
        for name, tensor in own.items()
        if not name.endswith("num_batches_tracked")
        and (name not in state or state[name].shape != tensor.shape)
    ]
    if wrong:
        raise ValueError(
            f"{source} does not fit this architecture: {len(wrong)} of its {len(own)} "
            f"tensors are missing or of another shape ({', '.join(wrong[:3])}, ...)"
        )
    model.load_state_dict({name: state[name] for name in own if name in state}, strict=False)


# -- networks ---------------------------------------------------------------------------


class Backbone(nn.Module):
    """0..255 float images ``(N, 3, H, W)`` -> embeddings ``(N, D)``, normalised inside.

    ``trunk`` is the network without its classifier; ``model`` the whole model the trunk
    came from (an open_clip model keeps its text tower there, for zero-shot use);
    ``weights`` says where the weights came from.
    """

    def __init__(
        self,
        spec: BackboneSpec,
        trunk: nn.Module,
        embedding_dim: int,
        weights: str,
        model: nn.Module | None = None,
    ):
        super().__init__()
        self.spec, self.trunk, self.embedding_dim, self.weights = (
            spec,
            trunk,
            embedding_dim,
            weights,
        )
        self.model = model if model is not None else trunk
        self.register_buffer("mean", torch.tensor(spec.mean).view(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor(spec.std).view(1, 3, 1, 1))

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.trunk((images - self.mean) / self.std)

    @property
    def needs_fit(self) -> bool:
        return self.spec.fitted and not bool(self.trunk.fitted)

    def fit(self, images: np.ndarray, **options) -> Backbone:
        """Learn the features from uint8 NHWC pool images (``patch-kmeans`` only)."""
        self.trunk.fit(images, **options)
        return self

    def stream(
        self, paths: Sequence, *, batch_size: int = 64, workers: int = 2, open_file=None
    ) -> Iterator[np.ndarray]:
        """uint8 NHWC batches of image files decoded at this backbone's resolution."""
        return images_stream(
            paths,
            resize=self.spec.resize,
            crop=self.spec.crop,
            batch_size=batch_size,
            workers=workers,
            interpolation=Image.Resampling[self.spec.interpolation.upper()],
            open_file=open_file,
        )

    def embed_files(self, paths: Sequence, *, workers: int = 2, open_file=None) -> np.ndarray:
        """float32 embeddings of image files, streamed: one batch of pixels at a time."""
        rows = [
            self.embed(batch) for batch in self.stream(paths, workers=workers, open_file=open_file)
        ]
        return np.concatenate(rows) if rows else np.zeros((0, self.embedding_dim), np.float32)

    @torch.inference_mode()
    def embed(self, images: np.ndarray, batch_size: int = 64) -> np.ndarray:
        """float32 embeddings of uint8 NHWC ``images``."""
        self.eval()
        out = np.empty((len(images), self.embedding_dim), dtype=np.float32)
        for start in range(0, len(images), batch_size):
            batch = torch.from_numpy(np.ascontiguousarray(images[start : start + batch_size]))
            # NHWC permuted is channels-last already: no layout copy before the convolutions.
            out[start : start + len(batch)] = (
                self(batch.permute(0, 3, 1, 2).float()).float().numpy()
            )
        return out


def _torchvision_trunk(name: str) -> tuple[nn.Module, int, Callable[[nn.Module], None]]:
    model = getattr(torchvision.models, name)(weights=None)

    def strip(model: nn.Module) -> None:
        # Before loading: the file's ImageNet classifier, if it has one, is not needed.
        if hasattr(model, "fc"):
            model.fc = nn.Identity()
        elif hasattr(model, "heads"):  # vision transformers
            model.heads = nn.Identity()
        else:  # the classifier is a Sequential ending in the ImageNet Linear
            model.classifier[-1] = nn.Identity()

    linear = [module for module in model.modules() if isinstance(module, nn.Linear)][-1]
    return model, linear.in_features, strip


class _ClipImages(nn.Module):
    def __init__(self, model: nn.Module):
        super().__init__()
        self.clip = model

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.clip.encode_image(images)


def backbone_create(
    name: str,
    *,
    weights: str | Path | None = None,
    pretrained: bool = True,
    allow_downloads: bool = False,
    weights_dir: Path | None = None,
    seed: int = 0,
    centroids: int = 400,
) -> Backbone:
    """A :class:`Backbone` by name, in eval mode.

    ``weights``: a local file to load. Without it, a pretrained backbone loads its
    pretrained weights (see :func:`weights_locate`) unless ``pretrained=False`` asks for
    a seeded random initialisation (to pretrain it, or to load a checkpoint over it).
    ``patch-kmeans`` must then be fitted on the pool (``needs_fit``).
    """
    spec = backbone_spec(name)
    file = None
    if weights is not None or pretrained:
        file = weights_locate(
            spec, weights, allow_downloads=allow_downloads, weights_dir=weights_dir
        )
    torch.manual_seed(seed)
    strip: Callable[[nn.Module], None] = lambda model: None  # noqa: E731
    model: nn.Module | None = None
    if name == "patch-kmeans":
        trunk: nn.Module = PatchKMeansBackbone(centroids=centroids)
        dim = trunk.embedding_dim
    elif name == "small-resnet":
        trunk = SmallResNet()
        dim = trunk.embedding_dim
    elif name == "cifar-resnet18":
        trunk, dim = cifar_resnet18(), 512
    elif name in TORCHVISION:
        trunk, dim, strip = _torchvision_trunk(name)
    elif name.startswith("timm:"):
        import timm

        trunk = timm.create_model(name.partition(":")[2], pretrained=False, num_classes=0)
        dim = trunk.num_features
    else:
        import open_clip

        model = open_clip.create_model(name.partition(":")[2], pretrained=None)
        trunk, dim = _ClipImages(model), model.visual.output_dim
    strip(trunk)
    if file is not None:
        weights_load(model or trunk, read_state_dict(file), str(file))
    source = str(file) if file else ("fitted on the pool" if spec.fitted else "random init")
    return Backbone(spec, trunk, dim, source, model).eval()
