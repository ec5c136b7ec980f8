"""Training on partial (any-level) labels, with class balance and the unlabeled pool.

Labels are taxonomy *node* indices: a leaf gives the usual cross-entropy, an inner node
(a coarse-only answer) gives ``-log p(node)`` where ``p(node)`` is the summed probability
of its leaves, so coarse answers still teach the model.

Two ways to train:

- :func:`train_head`: the linear leaf head on kept embeddings, in seconds, with
  self-training on the unlabeled pool (class-balanced confident pseudo-labels). This is
  what runs every round.
- :func:`train_network`: a full fine-tune on images with augmentation, balanced sampling
  and confident pseudo-labels on unlabeled images; run less often.

Both are deterministic under a seed (single-process data order, seeded generators).
A saved head carries its taxonomy with its fingerprint, names the backbone it reads, and is
written atomically.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from learning.core.files import atomic_path
from learning.core.networks import LeafClassifier
from learning.core.taxonomy import Taxonomy

HEAD_FORMAT = "head-1"


class TaxonomyMismatchError(ValueError):
    """A checkpoint was trained for a different taxonomy than the one asked for."""


# -- the loss ---------------------------------------------------------------------------


def node_log_likelihood(
    logits: torch.Tensor, node_labels: torch.Tensor, membership: torch.Tensor
) -> torch.Tensor:
    """``log p(node | x)`` per row: log of the summed softmax mass of the node's leaves.

    ``membership`` is ``taxonomy.membership`` as a tensor; for a leaf label this is the
    ordinary log-softmax of that leaf.
    """
    log_probs = logits.log_softmax(dim=1)
    inside = membership[node_labels] > 0
    return log_probs.masked_fill(~inside, float("-inf")).logsumexp(dim=1)


def hierarchical_loss(
    logits: torch.Tensor,
    node_labels: torch.Tensor,
    membership: torch.Tensor,
    weights: torch.Tensor | None = None,
) -> torch.Tensor:
    """Weighted mean of ``-log p(node | x)`` (cross-entropy for leaf labels)."""
    nll = -node_log_likelihood(logits, node_labels, membership)
    if weights is None:
        return nll.mean()
    return (nll * weights).sum() / weights.sum().clamp_min(1e-12)


def balanced_weights(node_labels: np.ndarray) -> np.ndarray:
    """Per-example weights ``1 / count(label)``, scaled to mean 1.

    Every labelled node then carries the same total weight, so a class with 5 examples
    is not drowned by one with 500.
    """
    node_labels = np.asarray(node_labels)
    if len(node_labels) == 0:
        return np.zeros(0, dtype=np.float32)
    _, inverse, counts = np.unique(node_labels, return_inverse=True, return_counts=True)
    weights = 1.0 / counts[inverse]
    return (weights * len(weights) / weights.sum()).astype(np.float32)


def _membership_tensor(taxonomy: Taxonomy) -> torch.Tensor:
    return torch.from_numpy(taxonomy.membership)


# -- the light head ---------------------------------------------------------------------


@dataclass(frozen=True)
class HeadConfig:
    """Settings for :func:`train_head` (defaults tuned on CIFAR-10 patch-kmeans features)."""

    l2: float = 100.0  # L2 on weights, divided by the number of labels (like 1/C in sklearn)
    iterations: int = 60  # L-BFGS iterations per fit
    # Pseudo-label rounds; off by default: on CIFAR-10 patch features they did not help
    # (k-NN label propagation, learning/core/propagation.py, does).
    self_training_rounds: int = 0
    pseudo_label_threshold: float = 0.6  # minimum leaf probability to pseudo-label
    pseudo_labels_per_labeled: float = 2.0  # pseudo-labels at most this many x the labels
    pseudo_label_weight: float = 0.3  # weight of a pseudo-label relative to a real one
    balanced: bool = True
    seed: int = 0


def _fit_linear(
    head: nn.Linear,
    features: torch.Tensor,
    node_labels: torch.Tensor,
    weights: torch.Tensor,
    membership: torch.Tensor,
    l2: float,
    iterations: int,
) -> None:
    """Full-batch L-BFGS: deterministic, and converges in well under a second here."""
    optimizer = torch.optim.LBFGS(
        head.parameters(),
        lr=1.0,
        max_iter=iterations,
        history_size=20,
        line_search_fn="strong_wolfe",
    )

    def closure() -> torch.Tensor:
        optimizer.zero_grad()
        loss = hierarchical_loss(head(features), node_labels, membership, weights)
        loss = loss + 0.5 * l2 * head.weight.pow(2).sum()
        loss.backward()
        return loss

    optimizer.step(closure)


def _confident_pseudo_labels(
    leaf_probs: np.ndarray, budget: int, threshold: float, taxonomy: Taxonomy
) -> tuple[np.ndarray, np.ndarray]:
    """Up to ``budget`` confident unlabeled rows, spread evenly over predicted leaves.

    Taking the most confident rows per class (rather than globally) keeps the
    pseudo-labels from piling onto the easiest class, which would skew the head.
    Returns (row indices, node labels).
    """
    predicted = leaf_probs.argmax(axis=1)
    confidence = leaf_probs.max(axis=1)
    per_class = max(1, budget // taxonomy.num_leaves)
    rows: list[np.ndarray] = []
    for leaf in range(taxonomy.num_leaves):
        candidates = np.flatnonzero((predicted == leaf) & (confidence >= threshold))
        best = candidates[np.argsort(-confidence[candidates], kind="stable")[:per_class]]
        rows.append(best)
    chosen = np.concatenate(rows) if rows else np.zeros(0, dtype=np.int64)
    leaf_nodes = np.asarray(taxonomy.leaves)
    return chosen, leaf_nodes[predicted[chosen]]


def train_head(
    embeddings: np.ndarray,
    node_labels: np.ndarray,
    taxonomy: Taxonomy,
    unlabeled_embeddings: np.ndarray | None = None,
    config: HeadConfig | None = None,
) -> nn.Linear:
    """Fit the linear leaf head on kept embeddings (seconds, not minutes).

    ``node_labels`` are taxonomy node indices (any level). With ``unlabeled_embeddings``
    the head self-trains: it adds class-balanced confident pseudo-labels from the pool
    at a reduced weight and refits. Returns a fresh ``nn.Linear(D, num_leaves)`` to put
    in ``network.head``.
    """
    config = config or HeadConfig()
    torch.manual_seed(config.seed)
    embeddings = np.asarray(embeddings, dtype=np.float32)
    node_labels = np.asarray(node_labels, dtype=np.int64)
    head = nn.Linear(embeddings.shape[1], taxonomy.num_leaves)
    nn.init.zeros_(head.weight)
    nn.init.zeros_(head.bias)
    if len(node_labels) == 0:
        return head  # uniform predictions until something is labelled
    membership = _membership_tensor(taxonomy)
    weights = (
        balanced_weights(node_labels) if config.balanced else np.ones(len(node_labels), np.float32)
    )
    features = torch.from_numpy(embeddings)
    labels = torch.from_numpy(node_labels)
    l2 = config.l2 / len(node_labels)
    _fit_linear(
        head, features, labels, torch.from_numpy(weights), membership, l2, config.iterations
    )

    if unlabeled_embeddings is None or len(unlabeled_embeddings) == 0:
        return head
    pool = torch.from_numpy(np.asarray(unlabeled_embeddings, dtype=np.float32))
    budget = int(config.pseudo_labels_per_labeled * len(node_labels))
    for _ in range(config.self_training_rounds):
        with torch.no_grad():
            pool_probs = head(pool).softmax(dim=1).numpy()
        rows, pseudo = _confident_pseudo_labels(
            pool_probs, budget, config.pseudo_label_threshold, taxonomy
        )
        if len(rows) == 0:
            break
        all_features = torch.cat([features, pool[torch.from_numpy(rows)]])
        all_labels = torch.cat([labels, torch.from_numpy(pseudo)])
        pseudo_weights = balanced_weights(pseudo) * config.pseudo_label_weight
        all_weights = torch.from_numpy(np.concatenate([weights, pseudo_weights]))
        _fit_linear(head, all_features, all_labels, all_weights, membership, l2, config.iterations)
    return head


# -- the full fine-tune -----------------------------------------------------------------


class StepBudget:
    """Steps of a training loop within ``max_steps`` and an optional time budget.

    :meth:`next` gives each step's progress in ``[0, 1]`` (steps or time, whichever is
    further along, so a loop cut by its budget still ends at a small cosine rate), or
    ``None`` to stop before a step that would end past the budget, judged by the slowest
    step so far.
    """

    def __init__(
        self,
        max_steps: int,
        time_budget_s: float | None = None,
        clock: Callable[[], float] = time.monotonic,
    ):
        if time_budget_s is not None and time_budget_s <= 0:
            raise ValueError(f"time_budget_s must be positive, got {time_budget_s}")
        self.max_steps, self.time_budget_s, self.clock = max_steps, time_budget_s, clock
        self.started = self.previous = clock()
        self.steps, self.slowest, self.out_of_time = 0, 0.0, False

    def next(self) -> float | None:
        if self.steps >= self.max_steps:
            return None
        progress = self.steps / self.max_steps
        if self.time_budget_s is not None:
            now = self.clock()
            self.slowest = max(self.slowest, now - self.previous) if self.steps else 0.0
            self.previous = now
            if now - self.started + self.slowest > self.time_budget_s:
                self.out_of_time = True
                return None
            progress = max(progress, (now - self.started) / self.time_budget_s)
        self.steps += 1
        return min(progress, 1.0)

    @property
    def elapsed_s(self) -> float:
        return self.clock() - self.started


def cosine_rates(optimizer: torch.optim.Optimizer, base_rates: list[float], progress: float):
    """Set each group's rate on the cosine from its base rate (progress 0) to 0 (1)."""
    for group, rate in zip(optimizer.param_groups, base_rates, strict=True):
        group["lr"] = rate * 0.5 * (1.0 + math.cos(math.pi * progress))


@dataclass(frozen=True)
class TrainConfig:
    """Settings for :func:`train_network`."""

    epochs: int = 30
    batch_size: int = 64
    learning_rate: float = 0.05
    weight_decay: float = 5e-4
    pseudo_label_threshold: float = 0.95  # FixMatch's confidence threshold
    pseudo_label_weight: float = 1.0
    unlabeled_ratio: int = 1  # unlabeled images per labelled image in a step
    augment: bool = True
    seed: int = 0
    threads: int | None = None  # torch intra-op threads; None keeps the current setting


def _augment(batch: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Random horizontal flip and up-to-4-pixel translation (reflect padded), per image."""
    size = batch.shape[-1]
    flip = torch.rand(len(batch), generator=generator) < 0.5
    batch = torch.where(flip.view(-1, 1, 1, 1), batch.flip(-1), batch)
    padded = F.pad(batch, (4, 4, 4, 4), mode="reflect")
    shifts = torch.randint(0, 9, (len(batch), 2), generator=generator)
    return torch.stack(
        [padded[i, :, y : y + size, x : x + size] for i, (y, x) in enumerate(shifts.tolist())]
    )


def _to_tensor(images: np.ndarray) -> torch.Tensor:
    """uint8 NHWC -> float NCHW in channels-last memory (a free permute of NHWC)."""
    return torch.from_numpy(np.ascontiguousarray(images)).permute(0, 3, 1, 2).float()


def train_network(
    network: LeafClassifier,
    images: np.ndarray,
    node_labels: np.ndarray,
    taxonomy: Taxonomy,
    unlabeled_images: np.ndarray | None = None,
    config: TrainConfig | None = None,
    *,
    budget: StepBudget | None = None,
    losses: list[float] | None = None,
) -> LeafClassifier:
    """Fine-tune the whole network on uint8 NHWC ``images`` labelled at any level.

    Labelled batches are drawn with probability ``1 / count(label)`` (balanced sampling).
    With ``unlabeled_images``, each step also draws unlabeled images, pseudo-labels
    those whose prediction on a plain view is above the threshold and trains on an
    augmented view of them (a light FixMatch). SGD with momentum and a cosine schedule
    over ``config.epochs``, or over ``budget`` (its steps and time) when one is given;
    each step's loss is appended to ``losses``. The network is trained in place and
    returned.
    """
    config = config or TrainConfig()
    if config.threads:
        torch.set_num_threads(config.threads)
    node_labels = np.asarray(node_labels, dtype=np.int64)
    if len(node_labels) == 0:
        return network
    torch.manual_seed(config.seed)
    generator = torch.Generator().manual_seed(config.seed)
    # Batches are drawn and augmented on the CPU, then moved to the network's device.
    device = next(network.parameters()).device
    membership = _membership_tensor(taxonomy).to(device)
    sampling = torch.from_numpy(balanced_weights(node_labels).astype(np.float64))
    steps_per_epoch = max(1, len(node_labels) // config.batch_size)
    budget = budget or StepBudget(steps_per_epoch * config.epochs)
    optimizer = torch.optim.SGD(
        network.parameters(),
        lr=config.learning_rate,
        momentum=0.9,
        nesterov=True,
        weight_decay=config.weight_decay,
    )
    base_rates = [group["lr"] for group in optimizer.param_groups]
    labels = torch.from_numpy(node_labels)
    use_unlabeled = unlabeled_images is not None and len(unlabeled_images) > 0
    network.train()
    while (progress := budget.next()) is not None:
        cosine_rates(optimizer, base_rates, progress)
        rows = torch.multinomial(sampling, config.batch_size, replacement=True, generator=generator)
        batch = _to_tensor(images[rows.numpy()])
        if config.augment:
            batch = _augment(batch, generator)
        logits, _ = network(batch.to(device).contiguous(memory_format=torch.channels_last))
        loss = hierarchical_loss(logits, labels[rows].to(device), membership)
        if use_unlabeled:
            loss = loss + config.pseudo_label_weight * _pseudo_label_loss(
                network, unlabeled_images, config, generator
            )
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        if losses is not None:
            losses.append(float(loss.detach()))
    network.eval()
    return network


def _pseudo_label_loss(
    network: LeafClassifier,
    unlabeled_images: np.ndarray,
    config: TrainConfig,
    generator: torch.Generator,
) -> torch.Tensor:
    count = config.batch_size * config.unlabeled_ratio
    rows = torch.randint(0, len(unlabeled_images), (count,), generator=generator).numpy()
    plain = _to_tensor(unlabeled_images[rows])
    device = next(network.parameters()).device
    with torch.no_grad():
        probs = network(plain.to(device).contiguous(memory_format=torch.channels_last))[0]
    confidence, target = probs.softmax(dim=1).max(dim=1)
    keep = confidence >= config.pseudo_label_threshold
    if not bool(keep.any()):
        return torch.zeros(())
    augmented = _augment(plain[keep.cpu()], generator).to(device)
    logits, _ = network(augmented.contiguous(memory_format=torch.channels_last))
    # Leaf targets are plain cross-entropy; masked mean over all drawn rows, as FixMatch.
    return F.cross_entropy(logits, target[keep], reduction="sum") / count


# -- checkpoints: heads on a frozen backbone ---------------------------------------------


def save_head(
    path: str | Path,
    head: nn.Linear,
    taxonomy: Taxonomy,
    backbone: str,
    weights: str,
    metadata: dict[str, Any] | None = None,
) -> Path:
    """Write a head fitted on a frozen backbone's kept embeddings, atomically.

    The backbone is named, not copied: its weights stay in their one file, so a model
    version costs kilobytes, not the 45-95 MB of a torchvision backbone each time.
    """
    path = Path(path)
    payload = {
        "format": HEAD_FORMAT,
        "backbone": backbone,
        "weights": weights,
        "taxonomy": taxonomy.to_dict(),
        "taxonomy_fingerprint": taxonomy.fingerprint,
        "state_dict": head.state_dict(),
        "metadata": metadata or {},
    }
    with atomic_path(path) as temporary:
        torch.save(payload, temporary)
    return path


@dataclass
class LoadedHead:
    """A head restored from disk, with the backbone (name, weights) it reads."""

    head: nn.Linear
    taxonomy: Taxonomy
    backbone: str
    weights: str
    metadata: dict[str, Any]


def load_head(path: str | Path, taxonomy: Taxonomy | None = None) -> LoadedHead:
    """Load a head saved by :func:`save_head` (``weights_only=True``).

    With ``taxonomy`` given, its fingerprint must equal the file's, otherwise
    :class:`TaxonomyMismatchError` explains which taxonomies differ.
    """
    payload = torch.load(Path(path), map_location="cpu", weights_only=True)
    if payload.get("format") != HEAD_FORMAT:
        raise ValueError(f"{path} is not a head file (format {payload.get('format')!r})")
    stored = Taxonomy.from_dict(payload["taxonomy"])
    if stored.fingerprint != payload["taxonomy_fingerprint"]:
        raise ValueError(f"{path} is corrupt: its taxonomy does not match its fingerprint")
    if taxonomy is not None and taxonomy.fingerprint != stored.fingerprint:
        raise TaxonomyMismatchError(
            f"head {path} was trained for taxonomy {stored.name!r} "
            f"(fingerprint {stored.fingerprint}, leaves {list(stored.leaf_names)}), "
            f"not for {taxonomy.name!r} (fingerprint {taxonomy.fingerprint}, "
            f"leaves {list(taxonomy.leaf_names)}); retrain for the new taxonomy"
        )
    weight = payload["state_dict"]["weight"]
    head = nn.Linear(weight.shape[1], weight.shape[0])
    head.load_state_dict(payload["state_dict"])
    head.eval()
    return LoadedHead(head, stored, payload["backbone"], payload["weights"], payload["metadata"])


def config_dict(config: HeadConfig | TrainConfig) -> dict[str, Any]:
    """A config as a plain dict (for checkpoint metadata and benchmark output)."""
    return asdict(config)
