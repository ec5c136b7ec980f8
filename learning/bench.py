"""Label-efficiency benchmark of the query strategies (issue 3).

    python -m learning.bench --images DIR --taxonomy FILE --eval-images DIR \\
        --strategies random,margin,hierarchical,balanced,combined \\
        --seed-size 100 --batch 100 --budget 2000 --repeats 3 --out results.json

DIR and the eval DIR are ImageFolder trees (folder = leaf name). Every strategy starts
from the same random seed set per repeat; each round retrains the model on the labels
so far, rescores the pool, evaluates on the eval images only, and asks the strategy
for the next batch (labelled from the folder names, as a perfect annotator would).

With the default ``patch-kmeans`` backbone the features are learned once from the
unlabeled pool (no labels) and kept; every round retrains the light head (with
self-training on the pool) and rescores the kept embeddings. Any other backbone with
weights (``--backbone resnet18``, ``--weights FILE``) embeds the photos once at its own
resolution, as the loop does, and is kept the same way. ``small-resnet`` without weights
instead fine-tunes the whole network every round (slow on a CPU; for comparison).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from learning.bench_features import kept_features, unsupervised_features
from learning.core.backbones import backbone_spec
from learning.core.clusters import typical_pick
from learning.core.data import ImageArray, load_image_folder
from learning.core.networks import LeafClassifier, build_network
from learning.core.propagation import blend, build_graph, extend, pca_project, propagate
from learning.core.scoring import embed_and_predict, score_embeddings
from learning.core.strategies import STRATEGIES, PoolState, select
from learning.core.taxonomy import Taxonomy
from learning.core.training import HeadConfig, TrainConfig, config_dict, train_head, train_network


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m learning.bench", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--images", required=True, help="pool ImageFolder tree")
    parser.add_argument("--taxonomy", required=True, help="taxonomy JSON file")
    parser.add_argument("--eval-images", required=True, help="held-out ImageFolder tree")
    parser.add_argument("--strategies", default="random,margin,hierarchical,balanced,combined")
    parser.add_argument("--seed-size", type=int, default=100)
    parser.add_argument(
        "--seed-set",
        choices=["random", "typical"],
        default="random",
        help="the first labels: random, or TypiClust's typical points (kept embeddings only)",
    )
    parser.add_argument("--batch", type=int, default=100)
    parser.add_argument("--budget", type=int, default=2000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--out", default="results.json")
    parser.add_argument("--backbone", default="patch-kmeans", help="a backbone name")
    parser.add_argument("--weights", default=None, help="the backbone's weights file")
    parser.add_argument("--centroids", type=int, default=400, help="patch-kmeans dictionary size")
    parser.add_argument("--image-size", type=int, default=32)
    parser.add_argument("--epochs", type=int, default=15, help="full fine-tune epochs (CNNs)")
    parser.add_argument(
        "--finetune-check",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="also time one from-scratch small-resnet round on `budget` random labels",
    )
    parser.add_argument("--self-training", type=int, default=HeadConfig.self_training_rounds)
    parser.add_argument(
        "--propagation-weight",
        type=float,
        default=0.5,
        help="weight of k-NN label propagation blended with the head (0 = off)",
    )
    parser.add_argument("--threads", type=int, default=2, help="torch threads (we measure on 2)")
    parser.add_argument("--cache-dir", default=None, help="where decoded images/features are kept")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--scoring-only",
        action="store_true",
        help="only measure scoring from pixels on the pool (no rounds, no JSON)",
    )
    return parser.parse_args(argv)


# -- data -------------------------------------------------------------------------------


def leaf_positions(images: ImageArray, taxonomy: Taxonomy) -> np.ndarray:
    """Leaf column of every image from its folder name; unknown folders are an error."""
    positions = {name: column for column, name in enumerate(taxonomy.leaf_names)}
    unknown = sorted(set(images.class_names) - set(positions))
    if unknown:
        raise SystemExit(f"folders {unknown} are not leaves of taxonomy {taxonomy.name!r}")
    return np.array([positions[name] for name in images.class_names], dtype=np.int64)


# -- the active-learning loop -----------------------------------------------------------


@dataclass(frozen=True)
class RoundOutput:
    """What one retrain-and-rescore gives the loop."""

    pool_probs: np.ndarray
    eval_probs: np.ndarray
    diversity_space: np.ndarray  # pool embeddings projected for k-center distances
    train_s: float
    score_s: float


class Learner:
    """Retrain-and-score for one run; hides whether the backbone is kept or fine-tuned."""

    def __init__(
        self,
        args: argparse.Namespace,
        taxonomy: Taxonomy,
        pool_images: np.ndarray,
        eval_images: np.ndarray,
        pool_embeddings: np.ndarray | None,
        eval_embeddings: np.ndarray | None,
    ):
        self.args = args
        self.taxonomy = taxonomy
        self.pool_images = pool_images
        self.eval_images = eval_images
        self.pool_embeddings = pool_embeddings
        self.eval_embeddings = eval_embeddings
        self.head_config = HeadConfig(self_training_rounds=args.self_training, seed=args.seed)
        self.kept_space = self.graph = self.eval_neighbours = None
        if pool_embeddings is not None:
            # Kept embeddings never change: one projection and one graph serve every round.
            self.kept_space = pca_project(pool_embeddings)
            if args.propagation_weight > 0:
                self.graph = build_graph(pool_embeddings)
                self.eval_neighbours = self.graph.neighbours_of(eval_embeddings)

    def round(self, labeled: np.ndarray, labels: np.ndarray) -> RoundOutput:
        """Train on the ``labeled`` pool rows (leaf columns ``labels``) and rescore."""
        nodes = np.asarray(self.taxonomy.leaves)[labels]
        started = time.perf_counter()
        if self.pool_embeddings is not None:
            unlabeled = None
            if self.head_config.self_training_rounds:
                unlabeled = np.delete(self.pool_embeddings, labeled, axis=0)
            head = train_head(
                self.pool_embeddings[labeled], nodes, self.taxonomy, unlabeled, self.head_config
            )
            spread = None
            if self.graph is not None:
                spread = propagate(self.graph, labeled, nodes, self.taxonomy)
            train_s = time.perf_counter() - started
            started = time.perf_counter()
            pool_probs = score_embeddings(head, self.pool_embeddings, self.taxonomy).leaf_probs
            eval_probs = score_embeddings(head, self.eval_embeddings, self.taxonomy).leaf_probs
            if spread is not None:
                weight = self.args.propagation_weight
                pool_probs = blend(pool_probs, spread, weight)
                eval_probs = blend(eval_probs, extend(spread, *self.eval_neighbours), weight)
            score_s = time.perf_counter() - started
            return RoundOutput(pool_probs, eval_probs, self.kept_space, train_s, score_s)
        network = build_network(self.args.backbone, self.taxonomy.num_leaves, seed=self.args.seed)
        config = TrainConfig(epochs=self.args.epochs, seed=self.args.seed)
        train_network(network, self.pool_images[labeled], nodes, self.taxonomy, config=config)
        train_s = time.perf_counter() - started
        started = time.perf_counter()
        pool_probs, pool_embeddings = embed_and_predict(network, self.pool_images)
        score_s = time.perf_counter() - started
        eval_probs, _ = embed_and_predict(network, self.eval_images)
        space = pca_project(pool_embeddings)
        return RoundOutput(pool_probs, eval_probs, space, train_s, score_s)


def run_strategy(
    strategy: str,
    repeat: int,
    seed_set: np.ndarray,
    learner: Learner,
    pool_labels: np.ndarray,
    eval_labels: np.ndarray,
) -> list[dict[str, Any]]:
    """One active-learning run from ``seed_set`` to the budget; one row per round."""
    args, taxonomy = learner.args, learner.taxonomy
    rng = np.random.default_rng(args.seed * 1000 + repeat)
    labeled = np.array(seed_set, dtype=np.int64)
    rows: list[dict[str, Any]] = []
    while True:
        output = learner.round(labeled, pool_labels[labeled])
        train_s, score_s = output.train_s, output.score_s
        metrics = taxonomy.evaluate(output.eval_probs, eval_labels)
        rows.append(
            {
                "strategy": strategy,
                "repeat": repeat,
                "labels": len(labeled),
                "acc_fine": metrics["acc_fine"],
                "acc_coarse": metrics["acc_coarse"],
                "hierarchical_f1": metrics["hierarchical_f1"],
                "mistake_severity": metrics["mistake_severity"],
                "train_s": round(train_s, 3),
                "score_s": round(score_s, 3),
            }
        )
        print(
            f"  {strategy:<16} repeat {repeat} labels {len(labeled):>5} "
            f"acc_fine {metrics['acc_fine']:.4f} train {train_s:.1f}s score {score_s:.2f}s",
            flush=True,
        )
        remaining = args.budget - len(labeled)
        if remaining <= 0:
            return rows
        unlabeled = np.setdiff1d(np.arange(len(output.pool_probs)), labeled)
        state = PoolState(
            taxonomy=taxonomy,
            leaf_probs=output.pool_probs[unlabeled],
            embeddings=output.diversity_space[unlabeled],
            labeled_embeddings=output.diversity_space[labeled],
            labeled_leaf_counts=np.bincount(pool_labels[labeled], minlength=taxonomy.num_leaves),
        )
        started = time.perf_counter()
        picked = select(strategy, state, min(args.batch, remaining), rng).indices
        rows[-1]["select_s"] = round(time.perf_counter() - started, 3)
        labeled = np.concatenate([labeled, unlabeled[picked]])


# -- summary ----------------------------------------------------------------------------


def mean_curve(rounds: list[dict[str, Any]], strategy: str) -> tuple[np.ndarray, np.ndarray]:
    """Label counts and mean fine accuracy over repeats for one strategy."""
    by_labels: dict[int, list[float]] = {}
    for row in rounds:
        if row["strategy"] == strategy:
            by_labels.setdefault(row["labels"], []).append(row["acc_fine"])
    labels = np.array(sorted(by_labels))
    return labels, np.array([np.mean(by_labels[n]) for n in labels])


def labels_to_reach(labels: np.ndarray, accuracy: np.ndarray, target: float) -> float | None:
    """Labels at which the curve first reaches ``target``, linearly interpolated."""
    for i, (count, value) in enumerate(zip(labels, accuracy, strict=True)):
        if value >= target:
            if i == 0:
                return float(count)
            previous_count, previous_value = labels[i - 1], accuracy[i - 1]
            fraction = (target - previous_value) / (value - previous_value)
            return float(previous_count + fraction * (count - previous_count))
    return None


def summarise(rounds: list[dict[str, Any]], strategies: list[str]) -> dict[str, dict[str, Any]]:
    """Per strategy: final fine accuracy and labels needed to match random's final one."""
    random_labels, random_accuracy = mean_curve(rounds, "random")
    target = float(random_accuracy[-1]) if len(random_accuracy) else None
    summary: dict[str, dict[str, Any]] = {}
    for strategy in strategies:
        labels, accuracy = mean_curve(rounds, strategy)
        reach = labels_to_reach(labels, accuracy, target) if target is not None else None
        summary[strategy] = {
            "final_acc_fine": round(float(accuracy[-1]), 4),
            "labels_to_reach_random_final": None if reach is None else round(reach, 1),
            "ratio_to_random": None
            if reach is None
            else round(reach / float(random_labels[-1]), 3),
            "mean_train_s": round(
                float(np.mean([r["train_s"] for r in rounds if r["strategy"] == strategy])), 3
            ),
            "mean_score_s": round(
                float(np.mean([r["score_s"] for r in rounds if r["strategy"] == strategy])), 3
            ),
        }
    return summary


def measure_scoring(
    network: LeafClassifier | None, args: argparse.Namespace, images: np.ndarray, taxonomy: Taxonomy
) -> dict[str, float]:
    """Images per second of scoring straight from pixels (full network), 2 threads.

    The median of three passes: one pass on a shared host varies by a third either way.
    """
    sample = images[: min(len(images), 10_000)]
    results: dict[str, float] = {}
    # From 32 px pixels: the backbones at their own size are measured by embed_throughput.
    own = args.backbone if args.backbone == "patch-kmeans" else "small-resnet"
    for architecture in dict.fromkeys(["small-resnet", own]):
        model = network if architecture == args.backbone and network is not None else None
        model = model or build_network(architecture, taxonomy.num_leaves, seed=args.seed)
        if architecture == "patch-kmeans" and model is not network:
            model.backbone.fit(sample, seed=args.seed)
        embed_and_predict(model, sample[:256])  # warm-up
        rates = []
        for _ in range(3):
            started = time.perf_counter()
            embed_and_predict(model, sample)
            rates.append(len(sample) / (time.perf_counter() - started))
        results[f"{architecture}_images_per_s"] = round(float(np.median(rates)), 1)
    return results


def measure_finetune(
    args: argparse.Namespace,
    taxonomy: Taxonomy,
    pool: np.ndarray,
    pool_labels: np.ndarray,
    evaluation: np.ndarray,
    eval_labels: np.ndarray,
) -> dict[str, float]:
    """One full round of the CNN path: train small-resnet from scratch, rescore 10k.

    Uses ``budget`` random labels, so its accuracy compares with random's final one.
    """
    rng = np.random.default_rng(args.seed)
    labeled = rng.choice(len(pool), min(args.budget, len(pool)), replace=False)
    network = build_network("small-resnet", taxonomy.num_leaves, seed=args.seed)
    nodes = np.asarray(taxonomy.leaves)[pool_labels[labeled]]
    started = time.perf_counter()
    train_network(
        network,
        pool[labeled],
        nodes,
        taxonomy,
        config=TrainConfig(epochs=args.epochs, seed=args.seed),
    )
    train_s = time.perf_counter() - started
    started = time.perf_counter()
    embed_and_predict(network, pool[: min(len(pool), 10_000)])
    score_s = time.perf_counter() - started
    eval_probs, _ = embed_and_predict(network, evaluation)
    return {
        "finetune_labels": len(labeled),
        "finetune_epochs": args.epochs,
        "finetune_train_s": round(train_s, 1),
        "finetune_rescore_10k_s": round(score_s, 1),
        "finetune_acc_fine": round(taxonomy.evaluate(eval_probs, eval_labels)["acc_fine"], 4),
    }


def print_table(
    summary: dict[str, dict[str, Any]], rounds: list[dict[str, Any]], strategies: list[str]
) -> None:
    checkpoints = sorted({row["labels"] for row in rounds})
    shown = [
        n for n in checkpoints if n in (checkpoints[0], 500, 1000, 1500) or n == checkpoints[-1]
    ]
    header = f"{'strategy':<18}" + "".join(f"{'@' + str(n):>9}" for n in shown)
    header += f"{'reach':>9}{'ratio':>8}{'train_s':>9}{'score_s':>9}"
    print(header)
    for strategy in strategies:
        labels, accuracy = mean_curve(rounds, strategy)
        by_count = dict(zip(labels.tolist(), accuracy.tolist(), strict=True))
        line = f"{strategy:<18}" + "".join(f"{by_count.get(n, float('nan')):>9.4f}" for n in shown)
        entry = summary[strategy]
        reach = entry["labels_to_reach_random_final"]
        ratio = entry["ratio_to_random"]
        line += f"{'-' if reach is None else f'{reach:.0f}':>9}{'-' if ratio is None else f'{ratio:.3f}':>8}"
        line += f"{entry['mean_train_s']:>9.2f}{entry['mean_score_s']:>9.3f}"
        print(line)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    strategies = [name.strip() for name in args.strategies.split(",") if name.strip()]
    unknown = [name for name in strategies if name not in STRATEGIES]
    if unknown:
        raise SystemExit(f"unknown strategies {unknown}; choose from {sorted(STRATEGIES)}")
    if "random" not in strategies:
        strategies.insert(0, "random")  # the ratio is defined against random
    taxonomy = Taxonomy.from_json_file(args.taxonomy)
    started = time.perf_counter()
    pool = load_image_folder(args.images, args.image_size, args.cache_dir)
    evaluation = load_image_folder(args.eval_images, args.image_size, args.cache_dir)
    decode_s = time.perf_counter() - started
    pool_labels, eval_labels = leaf_positions(pool, taxonomy), leaf_positions(evaluation, taxonomy)
    print(f"pool {len(pool)} images, eval {len(evaluation)} images, decoded in {decode_s:.1f}s")
    if args.scoring_only:
        throughput = measure_scoring(None, args, pool.images, taxonomy)
        print(" ".join(f"{key}={value}" for key, value in throughput.items()))
        return 0

    network, pool_embeddings, eval_embeddings, features_s = None, None, None, 0.0
    if args.backbone == "patch-kmeans":
        network, pool_embeddings, eval_embeddings, features_s = unsupervised_features(
            args, taxonomy, pool.images, evaluation.images
        )
        print(f"unsupervised features {pool_embeddings.shape[1]}-d in {features_s:.1f}s")
    elif args.weights or backbone_spec(args.backbone).pretrained:
        pool_embeddings, eval_embeddings, features_s = kept_features(args)
        print(f"{args.backbone} features {pool_embeddings.shape[1]}-d in {features_s:.1f}s")
    learner = Learner(
        args, taxonomy, pool.images, evaluation.images, pool_embeddings, eval_embeddings
    )

    if args.seed_set == "typical" and pool_embeddings is None:
        raise SystemExit("--seed-set typical needs kept embeddings (not a network trained here)")
    rounds: list[dict[str, Any]] = []
    for repeat in range(args.repeats):
        seed_size = min(args.seed_size, len(pool), args.budget)
        if args.seed_set == "typical":
            seed_set = typical_pick(
                pca_project(pool_embeddings), seed_size, seed=args.seed * 7919 + repeat
            )
        else:
            seed_rng = np.random.default_rng(args.seed * 7919 + repeat)
            seed_set = seed_rng.choice(len(pool), seed_size, replace=False)
        for strategy in strategies:
            rounds += run_strategy(strategy, repeat, seed_set, learner, pool_labels, eval_labels)

    summary = summarise(rounds, strategies)
    throughput = measure_scoring(network, args, pool.images, taxonomy)
    if args.finetune_check:
        throughput |= measure_finetune(
            args, taxonomy, pool.images, pool_labels, evaluation.images, eval_labels
        )
    result = {
        "config": {**vars(args), "head": config_dict(learner.head_config)},
        "machine": {
            "cpu_threads": args.threads,
            "cpu_count": os.cpu_count(),
            "torch": torch.__version__,
        },
        "timing": {
            "decode_s": round(decode_s, 2),
            "features_s": round(features_s, 2),
            **throughput,
        },
        "rounds": rounds,
        "summary": summary,
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=2))
    print_table(summary, rounds, strategies)
    print(" ".join(f"{key}={value}" for key, value in throughput.items()))
    contenders = [
        s for s in strategies if s != "random" and summary[s]["ratio_to_random"] is not None
    ]
    best = min(contenders, key=lambda s: summary[s]["ratio_to_random"], default="random")
    print(f"best={best} ratio_to_random={summary[best]['ratio_to_random']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
