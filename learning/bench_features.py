"""The benchmark's kept features: patch k-means fitted on the pool, or a backbone's
embeddings of the photos at its own resolution; both cached on disk when asked."""

from __future__ import annotations

import argparse
import hashlib
import time
from pathlib import Path

import numpy as np
import torch

from learning.core.backbones import backbone_create
from learning.core.data import list_image_folder
from learning.core.files import atomic_path
from learning.core.networks import LeafClassifier, build_network
from learning.core.scoring import embed_and_predict
from learning.core.taxonomy import Taxonomy


def _embeddings_cached(
    network: LeafClassifier, images: np.ndarray, cache_dir: Path | None, key: str
) -> np.ndarray:
    """Backbone embeddings of ``images``, kept on disk under ``key`` when a cache is given."""
    file = cache_dir / f"embeddings-{key}.npy" if cache_dir else None
    if file is not None and file.exists():
        return np.load(file)
    _, embeddings = embed_and_predict(network, images)
    if file is not None:
        with atomic_path(file) as temporary, temporary.open("wb") as handle:
            np.save(handle, embeddings)
    return embeddings


def unsupervised_features(
    args: argparse.Namespace, taxonomy: Taxonomy, pool: np.ndarray, evaluation: np.ndarray
) -> tuple[LeafClassifier, np.ndarray, np.ndarray, float]:
    """Fit the patch-kmeans backbone on the pool (no labels) and embed pool + eval once."""
    digest = hashlib.sha256(pool.tobytes()).hexdigest()[:12]
    digest += hashlib.sha256(evaluation.tobytes()).hexdigest()[:12]
    key = f"{args.backbone}-{args.centroids}-{args.seed}-{digest}"
    cache_dir = Path(args.cache_dir) if args.cache_dir else None
    network = build_network(
        args.backbone, taxonomy.num_leaves, seed=args.seed, centroids=args.centroids
    )
    started = time.perf_counter()
    state_file = cache_dir / f"backbone-{key}.pt" if cache_dir else None
    if state_file is not None and state_file.exists():
        network.load_state_dict(torch.load(state_file, weights_only=True))
    else:
        network.backbone.fit(pool, seed=args.seed)
        if state_file is not None:
            torch.save(network.state_dict(), state_file)
    pool_embeddings = _embeddings_cached(network, pool, cache_dir, f"pool-{key}")
    eval_embeddings = _embeddings_cached(network, evaluation, cache_dir, f"eval-{key}")
    return network, pool_embeddings, eval_embeddings, time.perf_counter() - started


def kept_features(args: argparse.Namespace) -> tuple[np.ndarray, np.ndarray, float]:
    """Embed the pool and eval photos once at the backbone's resolution, streamed (the
    loop's decoding); kept on disk under a key of the backbone, weights and files."""
    backbone = backbone_create(args.backbone, weights=args.weights)
    started = time.perf_counter()
    cache_dir = Path(args.cache_dir) if args.cache_dir else None
    kept = []
    for root in (args.images, args.eval_images):
        paths = list_image_folder(root)
        digest = hashlib.sha256(f"{backbone.weights}\n{paths}".encode()).hexdigest()[:16]
        file = cache_dir / f"embeddings-{args.backbone}-{digest}.npy" if cache_dir else None
        if file is not None and file.exists():
            kept.append(np.load(file))
            continue
        kept.append(backbone.embed_files(paths, workers=args.threads))
        if file is not None:
            with atomic_path(file) as temporary, temporary.open("wb") as handle:
                np.save(handle, kept[-1])
    return kept[0], kept[1], time.perf_counter() - started
