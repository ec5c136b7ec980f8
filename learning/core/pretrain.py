"""Self-supervised pretraining of a backbone on a project's own unlabeled pool, and an
optional fine-tune on the human labels.

The method is SimCLR (Chen et al., 2020): two random views of each image, a small
projection head, and the NT-Xent loss that pulls the two views of an image together
and pushes the other images of the batch away. It is the simplest of the methods that
work from scratch on a few thousand images, needs no momentum encoder or queue
(BYOL, MoCo, DINO), and behaves well with the modest batches a CPU allows; its
linear-probe accuracy with a ResNet-18 on CIFAR-10 is in line with BYOL's at the
epoch counts we can afford.

The loss, the projection head and the view augmentations come from lightly
(``lightly.loss.NTXentLoss``, ``lightly.models.modules.SimCLRProjectionHead``,
``lightly.transforms.SimCLRTransform``) rather than from our own code: they are tested
against the papers' settings and maintained, and switching to BYOL or DINO later is a
change of three names, not a rewrite. We take only those three parts; lightly's
trainer (PyTorch Lightning), model zoo and API client are not used, and none of the
parts we import reaches the network (a test holds it).

Backbones take 0..255 float images ``(N, 3, H, W)`` and normalise them themselves
(``learning.core.backbones.Backbone``), and return ``(N, D)`` embeddings.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from lightly.loss import NTXentLoss
from lightly.models.modules import SimCLRProjectionHead
from lightly.transforms import SimCLRTransform
from PIL import Image
from torch import nn
from torch.utils.data import DataLoader, Dataset, RandomSampler

from learning.core.networks import LeafClassifier
from learning.core.taxonomy import Taxonomy
from learning.core.training import StepBudget, TrainConfig, cosine_rates, train_network

# Blurring a 32 px image destroys it; SimCLR's CIFAR setting leaves blur out.
BLUR_MIN_SIZE = 64


class StopReason:
    TIME_BUDGET = "time_budget"
    MAX_STEPS = "max_steps"


@dataclass
class PretrainResult:
    """What a pretraining run did; ``state_dict`` holds the backbone's weights (CPU)."""

    state_dict: dict[str, torch.Tensor]
    steps: int
    images_seen: int
    stop_reason: str
    device: str
    elapsed_s: float
    losses: list[float] = field(default_factory=list)
    method: str = "simclr"

    @classmethod
    def of(
        cls,
        backbone: nn.Module,
        budget: StepBudget,
        losses: list[float],
        batch_size: int,
        device: torch.device,
        method: str,
    ) -> PretrainResult:
        """The result of a loop run under ``budget``, one loss per step."""
        return cls(
            state_dict={
                name: value.detach().cpu() for name, value in backbone.state_dict().items()
            },
            steps=len(losses),
            images_seen=len(losses) * batch_size,
            stop_reason=StopReason.TIME_BUDGET if budget.out_of_time else StopReason.MAX_STEPS,
            device=str(device),
            elapsed_s=budget.elapsed_s,
            losses=losses,
            method=method,
        )

    def stats(self) -> dict[str, Any]:
        """A JSON-able summary (no weights): mean loss of the first and last tenth."""
        tenth = max(1, len(self.losses) // 10)
        return {
            "method": self.method,
            "steps": self.steps,
            "images_seen": self.images_seen,
            "stop_reason": self.stop_reason,
            "device": self.device,
            "elapsed_s": round(self.elapsed_s, 3),
            "loss_first": round(float(np.mean(self.losses[:tenth])), 4) if self.losses else None,
            "loss_last": round(float(np.mean(self.losses[-tenth:])), 4) if self.losses else None,
        }


class _TwoViews(Dataset):
    """Two SimCLR views of each image; ``decode`` turns an entry (a path) into pixels."""

    def __init__(self, images: Sequence[Any], decode: Callable[[Any], np.ndarray] | None, view):
        self.images, self.decode, self.view = images, decode, view

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, index: int) -> list[torch.Tensor]:
        entry = self.images[index]
        pixels = np.asarray(entry if self.decode is None else self.decode(entry), dtype=np.uint8)
        # The views come in 0..1; backbones take 0..255 pixels.
        return [view * 255 for view in self.view(Image.fromarray(pixels).convert("RGB"))]


def _batches(loader: DataLoader) -> Iterator[list[torch.Tensor]]:
    while True:  # epochs until the caller stops asking
        yield from loader


def _embedding_dim(backbone: nn.Module, input_size: int, device: torch.device) -> int:
    backbone.eval()
    with torch.no_grad():
        return int(backbone(torch.zeros(2, 3, input_size, input_size, device=device)).shape[1])


def resolve_device(device: str | torch.device | None) -> torch.device:
    """``None`` means CUDA when the machine has it, else the CPU."""
    if device is None:
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


def pretrain(
    backbone: nn.Module,
    images: Sequence[Any],
    *,
    time_budget_s: float,
    device: str | torch.device | None = None,
    seed: int = 0,
    decode: Callable[[Any], np.ndarray] | None = None,
    input_size: int = 32,
    batch_size: int = 128,
    max_steps: int = 100_000,
    learning_rate: float = 0.06,
    weight_decay: float = 5e-4,
    temperature: float = 0.5,
    workers: int = 0,
    clock: Callable[[], float] = time.monotonic,
) -> PretrainResult:
    """Train ``backbone`` in place with SimCLR on ``images``; stop within the budget.

    ``images`` is a sequence of uint8 ``(H, W, 3)`` arrays, or of anything ``decode``
    turns into one (file paths and a decoder: then only a batch is in memory at a
    time, whatever the pool). Views are random crops resized to ``input_size``.

    The run stops before a step that would end past ``time_budget_s`` (judged by the
    slowest step so far), or after ``max_steps``. The learning rate follows a cosine
    over whichever of the two comes first, so a run cut by its budget still ends at a
    small rate. On CUDA it trains in bfloat16 autocast, channels-last.
    """
    if len(images) < 2:
        raise ValueError("pretraining needs at least two images")
    device = resolve_device(device)
    torch.manual_seed(seed)
    np.random.seed(seed)  # lightly's blur draws from numpy's global generator
    view = SimCLRTransform(
        input_size=input_size,
        gaussian_blur=0.5 if input_size >= BLUR_MIN_SIZE else 0.0,
        normalize=None,  # the backbone normalises
    )
    batch = min(batch_size, len(images))
    loader = DataLoader(
        _TwoViews(images, decode, view),
        batch_size=batch,
        sampler=RandomSampler(images, generator=torch.Generator().manual_seed(seed)),
        drop_last=True,
        num_workers=workers,
        persistent_workers=workers > 0,
        pin_memory=device.type == "cuda",
    )
    return simclr_train(
        backbone,
        _batches(loader),
        batch_size=batch,
        time_budget_s=time_budget_s,
        device=device,
        input_size=input_size,
        max_steps=max_steps,
        learning_rate=learning_rate,
        weight_decay=weight_decay,
        temperature=temperature,
        clock=clock,
    )


def simclr_train(
    backbone: nn.Module,
    batches: Iterator[Sequence[torch.Tensor]],
    *,
    batch_size: int,
    time_budget_s: float,
    device: torch.device,
    input_size: int = 32,
    max_steps: int = 100_000,
    learning_rate: float = 0.06,
    weight_decay: float = 5e-4,
    temperature: float = 0.5,
    clock: Callable[[], float] = time.monotonic,
) -> PretrainResult:
    """The SimCLR loop of :func:`pretrain`, on batches of two views made elsewhere.

    ``batches`` yields ``(first, second)`` 0..255 float views of ``batch_size`` images
    (on any device: a GPU worker makes them on the GPU, ``learning.gpu_pretrain``).
    Budget, steps and learning-rate schedule as in :func:`pretrain`.
    """
    budget = StepBudget(max_steps, time_budget_s, clock)
    backbone.to(device)
    head = SimCLRProjectionHead(_embedding_dim(backbone, input_size, device), 512, 128).to(device)
    model = nn.Sequential(backbone, head).to(memory_format=torch.channels_last)
    criterion = NTXentLoss(temperature=temperature)
    optimizer = torch.optim.SGD(
        model.parameters(),
        lr=learning_rate * batch_size / 256,  # the linear scaling rule of the SimCLR paper
        momentum=0.9,
        weight_decay=weight_decay,
    )
    base_rates = [group["lr"] for group in optimizer.param_groups]
    autocast = torch.autocast(device.type, dtype=torch.bfloat16, enabled=device.type == "cuda")
    losses: list[float] = []
    model.train()
    while (progress := budget.next()) is not None:
        cosine_rates(optimizer, base_rates, progress)
        first, second = (
            v.to(device, non_blocking=True).contiguous(memory_format=torch.channels_last)
            for v in next(batches)
        )
        with autocast:
            loss = criterion(model(first).float(), model(second).float())
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        losses.append(float(loss.detach()))
    backbone.eval()
    return PretrainResult.of(backbone, budget, losses, batch_size, device, "simclr")


def finetune(
    backbone: nn.Module,
    head: nn.Linear,
    images: np.ndarray,
    labels: np.ndarray,
    *,
    taxonomy: Taxonomy,
    time_budget_s: float,
    device: str | torch.device | None = None,
    max_epochs: int = 30,
    batch_size: int = 64,
    learning_rate: float = 0.01,
    seed: int = 0,
    clock: Callable[[], float] = time.monotonic,
) -> PretrainResult:
    """Fine-tune ``backbone`` and ``head`` on human labels (meant for a GPU worker).

    ``images``: uint8 ``(N, H, W, 3)`` at the backbone's input size; ``labels``: taxonomy
    node indices at any level (a coarse-only answer teaches through its leaves). This is
    :func:`learning.core.training.train_network` (balanced sampling, flips and shifts,
    the hierarchical loss) on the chosen device, with a smaller rate than from scratch
    so the pretrained features are adjusted rather than overwritten, for ``max_epochs``
    or the time budget, whichever ends first. Both modules are trained in place.
    """
    device = resolve_device(device)
    # The backbone normalises 0..255 pixels itself: the classifier passes them through.
    network = LeafClassifier(
        "finetune", backbone, head.in_features, head.out_features, (0.0,) * 3, (1.0,) * 3
    )
    network.head = head
    network.to(device)
    batch = min(batch_size, len(labels))
    steps = max(1, len(labels) // batch) * max_epochs
    budget = StepBudget(steps, time_budget_s, clock)
    config = TrainConfig(batch_size=batch, learning_rate=learning_rate, seed=seed)
    losses: list[float] = []
    train_network(network, images, labels, taxonomy, config=config, budget=budget, losses=losses)
    return PretrainResult.of(backbone, budget, losses, batch, device, "finetune")
