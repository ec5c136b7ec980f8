"""Self-supervised pretraining of a CIFAR-style ResNet-18 on one GPU, in a time box.

    python -m learning.gpu_pretrain --data DIR --out DIR --minutes 5.5 --device cuda

``--data`` is an ImageFolder tree (``<class>/<file>``; the unpacked CIFAR-10 training
set). A seeded ``--holdout`` of it is set aside; the rest is the pretraining pool.
Pretraining is SimCLR on the pool's pixels alone: the loop, loss, projection head,
optimiser and budget are :func:`learning.core.pretrain.simclr_train`'s, the same as a
pretraining job's. Labels are read only afterwards, for a linear probe (logistic
regression on frozen embeddings) fitted on the pool and scored on the holdout, for
the random initialisation and for the trained backbone. The run writes under
``--out``:

- ``cifar-resnet18-simclr.safetensors``: the backbone's weights (about 45 MB) under the
  names the ``cifar-resnet18`` backbone loads (``backbone_create("cifar-resnet18",
  weights=FILE)``; ``manage.py simulate --backbone cifar-resnet18 --weights FILE``);
- ``figures.json``: versions, data, epochs, images/s, the loss curve, probe accuracies.

Why the views are made here rather than by lightly's ``SimCLRTransform`` (which
``pretrain`` uses): that transform works on one PIL image at a time in DataLoader
workers. A GPU trains a CIFAR ResNet-18 on tens of thousands of views a second, more
than the worker's CPUs make, so the whole training set is put on the GPU once as
uint8 and each batch's views are made there with batched tensor operations, every
image with its own random draws (torchvision's v2 transforms draw one set of
parameters per call, i.e. per batch).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import platform
import time
from collections.abc import Iterator, Sequence
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from learning.core.backbones import Backbone, backbone_create
from learning.core.data import load_image_folder

CHECKPOINT = "{backbone}-simclr.safetensors"
BACKBONES = ("cifar-resnet18", "small-resnet")  # the 32 px networks of the registry
FIGURES = "figures.json"
# The views of lightly's SimCLRTransform at its defaults, without blur at 32 px (as
# ``pretrain`` does): crop scale and aspect, flip, colour jitter, grayscale.
MIN_SCALE, LOG_RATIO = 0.08, (math.log(3 / 4), math.log(4 / 3))
FLIP, JITTER, GRAYSCALE = 0.5, 0.8, 0.2
BRIGHTNESS, CONTRAST, SATURATION, HUE = 0.8, 0.8, 0.8, 0.2
LUMA = (0.299, 0.587, 0.114)
# RGB -> YIQ: a hue shift is a rotation of the (I, Q) chroma plane.
YIQ = ((0.299, 0.587, 0.114), (0.596, -0.274, -0.322), (0.211, -0.523, 0.312))
FROM_YIQ = np.linalg.inv(YIQ).tolist()
# Kept free for the probe of the trained backbone and the save, on top of twice the
# measured time of the first probe.
RESERVE_S = 10.0
PACKAGES = ("torch", "torchvision", "lightly", "numpy", "scikit-learn", "safetensors")


def _gray(images: torch.Tensor) -> torch.Tensor:
    return (images * images.new_tensor(LUMA).view(1, 3, 1, 1)).sum(dim=1, keepdim=True)


def _factors(count: int, strength: float, apply: torch.Tensor) -> torch.Tensor:
    """Per-image factors uniform in [1 - strength, 1 + strength]; 1 where not applied."""
    drawn = 1 + strength * (2 * torch.rand(count, device=apply.device) - 1)
    return torch.where(apply, drawn, 1.0).view(count, 1, 1, 1)


def _colour_jitter(images: torch.Tensor, apply: torch.Tensor) -> torch.Tensor:
    """Brightness, contrast, saturation, then hue, on 0..1 images; per image.

    torchvision shuffles the four per call and shifts hue in HSV; a fixed order and a
    rotation in YIQ keep every step a batched product, at the cost of those details.
    """
    count = len(images)
    images = (images * _factors(count, BRIGHTNESS, apply)).clamp(0, 1)
    mean = _gray(images).mean(dim=(1, 2, 3), keepdim=True)
    images = ((images - mean) * _factors(count, CONTRAST, apply) + mean).clamp(0, 1)
    gray = _gray(images)
    images = ((images - gray) * _factors(count, SATURATION, apply) + gray).clamp(0, 1)
    angle = 2 * math.pi * HUE * (2 * torch.rand(count, device=images.device) - 1) * apply
    cos, sin = angle.cos(), angle.sin()
    rotation = torch.zeros(count, 3, 3, device=images.device)
    rotation[:, 0, 0] = 1
    rotation[:, 1, 1], rotation[:, 1, 2] = cos, -sin
    rotation[:, 2, 1], rotation[:, 2, 2] = sin, cos
    matrix = images.new_tensor(FROM_YIQ) @ rotation @ images.new_tensor(YIQ)
    return torch.einsum("nij,njhw->nihw", matrix, images).clamp(0, 1)


def views(images: torch.Tensor, size: int) -> torch.Tensor:
    """One random SimCLR view of each uint8 NCHW image, made on the images' device.

    Returns 0..255 float ``(N, 3, size, size)``, as backbones take. The resized crop and
    the flip are one affine resampling per image (``affine_grid`` + ``grid_sample``);
    a crop wider than the image is clipped to it instead of drawn again.
    """
    count, device = len(images), images.device

    def uniform(low: float = 0.0, high: float = 1.0) -> torch.Tensor:
        return low + (high - low) * torch.rand(count, device=device)

    area, ratio = uniform(MIN_SCALE, 1.0), uniform(*LOG_RATIO).exp()
    width, height = (area * ratio).sqrt().clamp(max=1), (area / ratio).sqrt().clamp(max=1)
    theta = torch.zeros(count, 2, 3, device=device)
    theta[:, 0, 0] = width * torch.where(uniform() < FLIP, -1.0, 1.0)
    theta[:, 1, 1] = height
    theta[:, 0, 2] = (1 - width) * uniform(-1, 1)
    theta[:, 1, 2] = (1 - height) * uniform(-1, 1)
    grid = F.affine_grid(theta, [count, 3, size, size], align_corners=False)
    crops = F.grid_sample(images.float() / 255, grid, padding_mode="border", align_corners=False)
    crops = _colour_jitter(crops, uniform() < JITTER)
    gray = (uniform() < GRAYSCALE).view(count, 1, 1, 1)
    return torch.where(gray, _gray(crops).expand_as(crops), crops) * 255


def view_pairs(pixels: torch.Tensor, batch_size: int, size: int) -> Iterator[tuple]:
    """Endless ``(first, second)`` view batches of uint8 NCHW ``pixels``, epoch by epoch
    in a fresh random order (the last partial batch of an epoch is dropped)."""
    while True:
        order = torch.randperm(len(pixels), device=pixels.device)
        for start in range(0, len(pixels) - batch_size + 1, batch_size):
            chunk = pixels[order[start : start + batch_size]]
            yield views(chunk, size), views(chunk, size)


@torch.inference_mode()
def embed(backbone: Backbone, pixels: torch.Tensor, batch_size: int = 1024) -> np.ndarray:
    """float32 embeddings of uint8 NCHW ``pixels`` on their device (bf16 on CUDA)."""
    backbone.eval()
    cuda = pixels.device.type == "cuda"
    rows = []
    for start in range(0, len(pixels), batch_size):
        batch = pixels[start : start + batch_size].float()
        with torch.autocast(pixels.device.type, dtype=torch.bfloat16, enabled=cuda):
            rows.append(backbone(batch.contiguous(memory_format=torch.channels_last)).float())
    return torch.cat(rows).cpu().numpy()


def probe_accuracy(
    train: np.ndarray, train_labels: np.ndarray, test: np.ndarray, test_labels: np.ndarray
) -> float:
    """Held-out accuracy of a logistic regression on standardised frozen embeddings."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=500))
    model.fit(train, train_labels)
    return round(float(model.score(test, test_labels)), 4)


def versions() -> dict[str, Any]:
    """The packages and the GPU this run sees (a device's torch is not our pin)."""
    found: dict[str, Any] = {"python": platform.python_version()}
    for package in PACKAGES:
        try:
            found[package] = version(package)
        except PackageNotFoundError:
            found[package] = None
    found["cuda"] = torch.version.cuda
    found["gpu"] = torch.cuda.get_device_name(0) if torch.cuda.is_available() else None
    found["cudnn"] = torch.backends.cudnn.version()
    found["cpu_threads"] = torch.get_num_threads()
    return found


def loss_curve(losses: Sequence[float], points: int = 100) -> list[list[float]]:
    """``[step, mean loss]`` over at most ``points`` equal runs of steps."""
    runs = np.array_split(np.arange(len(losses)), min(points, len(losses)))
    values = np.asarray(losses)
    return [[int(run[-1]) + 1, round(float(values[run].mean()), 4)] for run in runs if len(run)]


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m learning.gpu_pretrain",
        description="SimCLR pretraining of a CIFAR-style ResNet-18 on a GPU, in a time box; "
        "writes the backbone's safetensors weights and a figures JSON with a linear probe.",
    )
    parser.add_argument("--data", required=True, help="ImageFolder tree (<class>/<file>)")
    parser.add_argument("--out", required=True, help="folder for the weights and figures")
    parser.add_argument(
        "--minutes",
        type=float,
        default=5.5,
        help="wall-clock budget of the whole run, "
        "data loading and both probes included (default 5.5)",
    )
    parser.add_argument("--device", default=None, help="cuda or cpu (default: cuda if seen)")
    parser.add_argument("--backbone", default="cifar-resnet18", choices=BACKBONES)
    parser.add_argument("--batch-size", type=int, default=512)
    parser.add_argument("--learning-rate", type=float, default=0.06, help="per 256 images")
    parser.add_argument("--temperature", type=float, default=0.5)
    parser.add_argument("--holdout", type=int, default=10_000, help="images for the probe's test")
    parser.add_argument("--limit", type=int, default=None, help="use a random subset of N images")
    parser.add_argument("--max-steps", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--workers", type=int, default=8, help="JPEG decoding threads")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    started = time.monotonic()
    found = versions()
    print("versions", json.dumps(found), flush=True)
    # After the versions: a device whose lightly does not import still says what it has.
    from learning.core.pretrain import resolve_device, simclr_train

    device = resolve_device(args.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise SystemExit("--device cuda: this torch sees no GPU")
    torch.manual_seed(args.seed)
    torch.backends.cudnn.benchmark = True

    data = load_image_folder(args.data, size=32, workers=args.workers)
    names, labels = np.unique(np.asarray(data.class_names), return_inverse=True)
    order = np.random.default_rng(args.seed).permutation(len(data))[: args.limit]
    if not 0 < args.holdout < len(order) - 1:
        raise SystemExit(f"--holdout must leave a pool: {args.holdout} of {len(order)} images")
    held, pool = np.sort(order[: args.holdout]), np.sort(order[args.holdout :])
    # NHWC permuted to NCHW, on the device once; views and embeddings are made there.
    pixels = torch.from_numpy(data.images).permute(0, 3, 1, 2).contiguous().to(device)
    pool_pixels, held_pixels = (pixels[torch.from_numpy(part).to(device)] for part in (pool, held))
    del pixels
    loaded_s = time.monotonic() - started
    print(f"data {len(pool)} pool + {len(held)} held out, {loaded_s:.1f} s", flush=True)

    backbone = backbone_create(args.backbone, pretrained=False, seed=args.seed).to(device)
    size = backbone.spec.crop

    def probe() -> float:
        return probe_accuracy(
            embed(backbone, pool_pixels), labels[pool], embed(backbone, held_pixels), labels[held]
        )

    probe_started = time.monotonic()
    untrained = probe()
    probe_s = time.monotonic() - probe_started
    print(f"probe untrained {untrained} ({probe_s:.1f} s)", flush=True)
    budget = args.minutes * 60 - (time.monotonic() - started) - 2 * probe_s - RESERVE_S
    if budget <= 0:
        raise SystemExit(f"--minutes {args.minutes} leaves no time to train")
    batch = min(args.batch_size, len(pool))
    result = simclr_train(
        backbone,
        view_pairs(pool_pixels, batch, size),
        batch_size=batch,
        time_budget_s=budget,
        device=device,
        input_size=size,
        max_steps=args.max_steps,
        learning_rate=args.learning_rate,
        temperature=args.temperature,
    )
    if not result.steps:
        raise SystemExit("the budget ran out before the first step: give more --minutes")
    rate = result.images_seen / result.elapsed_s
    epochs = result.images_seen / len(pool)
    print(f"trained {result.steps} steps, {epochs:.1f} epochs, {rate:.0f} images/s", flush=True)
    trained = probe()
    print(f"probe trained {trained}", flush=True)

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    from safetensors.torch import save_file

    state = {
        k: v.detach().cpu().contiguous().clone() for k, v in backbone.model.state_dict().items()
    }
    recipe = f"SimCLR, {epochs:.1f} epochs on {len(pool)} images, probe {trained}"
    checkpoint = out / CHECKPOINT.format(backbone=args.backbone)
    save_file(state, str(checkpoint), metadata={"backbone": args.backbone, "recipe": recipe})
    figures = {
        "method": "simclr",
        "backbone": args.backbone,
        "device": str(device),
        "versions": found,
        "arguments": vars(args),
        "data": {"root": str(args.data), "pool": len(pool), "holdout": len(held)},
        "classes": names.tolist(),
        "steps": result.steps,
        "batch_size": batch,
        "epochs": round(epochs, 2),
        "images_seen": result.images_seen,
        "images_per_s": round(rate, 1),
        "stop_reason": result.stop_reason,
        "train_s": round(result.elapsed_s, 1),
        "load_s": round(loaded_s, 1),
        "total_s": round(time.monotonic() - started, 1),
        "loss_curve": loss_curve(result.losses),
        "probe": {"untrained": untrained, "trained": trained, "test_images": len(held)},
        "checkpoint": checkpoint.name,
        "checkpoint_bytes": checkpoint.stat().st_size,
        "checkpoint_sha256": hashlib.sha256(checkpoint.read_bytes()).hexdigest(),
    }
    (out / FIGURES).write_text(json.dumps(figures, indent=1))
    print(json.dumps({k: figures[k] for k in ("epochs", "images_per_s", "probe")}), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
