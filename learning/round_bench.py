"""A retraining round's maths on a synthetic pool read back from the float16 store.

    python -m learning.round_bench --items 100000 --dim 512

Prints the seconds of each step as ``round_run`` runs them on kept embeddings (the
database writes of a round are not included).
"""

import argparse
import tempfile
import time

import numpy as np
import torch

from learning.core.embedding_store import EmbeddingStore
from learning.core.propagation import pca_project
from learning.core.scoring import score_embeddings
from learning.core.strategies import PoolState, select
from learning.core.taxonomy import Taxonomy
from learning.core.training import HeadConfig, train_head


def main() -> None:
    torch.set_num_threads(2)  # the machine we measure on
    parser = argparse.ArgumentParser(prog="python -m learning.round_bench")
    parser.add_argument("--items", type=int, default=100_000)
    parser.add_argument("--dim", type=int, default=512)
    parser.add_argument("--labels", type=int, default=2_000)
    arguments = parser.parse_args()
    n, dim, labels = arguments.items, arguments.dim, arguments.labels
    tax = Taxonomy.from_leaf_paths([f"{c}/{f}" for c in ("vehicle", "animal") for f in range(5)])
    rng = np.random.default_rng(0)
    centres = rng.normal(size=(10, dim)) * 2
    truth = rng.integers(0, 10, n)
    rows = (centres[truth] + rng.normal(size=(n, dim))).astype(np.float32)
    folder = tempfile.mkdtemp()
    store = EmbeddingStore(folder)
    with store.writer():
        for start in range(0, n, 256):
            store.append(np.arange(start, min(n, start + 256)), rows[start : start + 256])
        store.merge()
    t = {}
    s0 = time.perf_counter()
    emb = store.read(np.arange(n))
    t["read"] = time.perf_counter() - s0
    train = rng.choice(n, labels, replace=False)
    pool = np.setdiff1d(np.arange(n), train)
    nodes = np.asarray(tax.leaves)[truth[train]]
    s0 = time.perf_counter()
    head = train_head(emb[train], nodes, tax, emb[pool], HeadConfig())
    t["train_head"] = time.perf_counter() - s0
    s0 = time.perf_counter()
    scores = score_embeddings(head, emb, tax)
    t["score"] = time.perf_counter() - s0
    s0 = time.perf_counter()
    proj = pca_project(emb)
    t["pca"] = time.perf_counter() - s0
    s0 = time.perf_counter()
    select(
        "margin",
        PoolState(
            taxonomy=tax,
            leaf_probs=scores.leaf_probs[pool],
            embeddings=proj[pool],
            labeled_embeddings=proj[train],
            labeled_leaf_counts=np.bincount(truth[train], minlength=10),
        ),
        100,
        seed=0,
    )
    t["select_margin"] = time.perf_counter() - s0
    print(dim, {k: round(v, 2) for k, v in t.items()}, "total", round(sum(t.values()), 2))


if __name__ == "__main__":
    main()
