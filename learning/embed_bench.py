"""Embedding throughput from image files, as the loop embeds a pool: decoded in a stream
at each backbone's resolution, embedded batch by batch.

    python -m learning.embed_bench --images DIR --backbones resnet18,patch-kmeans

DIR is any folder tree of images. Prints images per second for decoding alone and for
decoding plus embedding (the median of ``--passes``), and the peak RSS. Weights do not
change the arithmetic, so ``--random-weights`` measures a pretrained backbone without its
file; patch-kmeans is fitted on the images first (its fitting time is printed apart).
"""

from __future__ import annotations

import argparse
import resource
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

from learning.core.backbones import backbone_create
from learning.core.data import IMAGE_SUFFIXES


def _rate(count: int, run, passes: int) -> float:
    rates = []
    for _ in range(passes):
        started = time.perf_counter()
        run()
        rates.append(count / (time.perf_counter() - started))
    return round(float(np.median(rates)), 1)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m learning.embed_bench")
    parser.add_argument("--images", required=True, type=Path)
    parser.add_argument("--backbones", default="resnet18,patch-kmeans")
    parser.add_argument("--limit", type=int, default=200, help="images measured")
    parser.add_argument("--threads", type=int, default=2, help="torch and decoding threads")
    parser.add_argument("--passes", type=int, default=3)
    parser.add_argument("--weights", help="a weights file (one backbone)")
    parser.add_argument("--random-weights", action="store_true")
    parser.add_argument("--centroids", type=int, default=400)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    paths = sorted(p for p in args.images.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES)
    paths = paths[: args.limit]
    print(f"{len(paths)} images under {args.images}, {args.threads} threads")
    for name in args.backbones.split(","):
        backbone = backbone_create(
            name,
            weights=args.weights,
            pretrained=not args.random_weights,
            centroids=args.centroids,
        )
        spec, fit_s = backbone.spec, 0.0
        if backbone.needs_fit:
            started = time.perf_counter()
            backbone.fit(np.concatenate(list(backbone.stream(paths, workers=args.threads))))
            fit_s = time.perf_counter() - started
        backbone.embed_files(paths[:16], workers=args.threads)  # warm-up
        decode = _rate(
            len(paths), lambda b=backbone: list(b.stream(paths, workers=args.threads)), args.passes
        )
        embed = _rate(
            len(paths), lambda b=backbone: b.embed_files(paths, workers=args.threads), args.passes
        )
        print(
            f"{name}: {spec.crop} px (shorter side {spec.resize}) decode {decode} images/s, "
            f"decode+embed {embed} images/s, {backbone.embedding_dim}-d"
            + (f", fitted in {fit_s:.1f}s" if fit_s else ""),
            flush=True,
        )
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak RSS {peak:.0f} MiB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
