"""The first batch of a pool no one has labelled yet (TypiClust).

Before the first label there are no probabilities to be uncertain about, so the first
batch is chosen from the embeddings alone, as TypiClust does (Hacohen et al., "Active
learning on a budget", 2022): cut the pool into as many k-means clusters as the batch
has items and take the most *typical* point of each, the one whose nearest neighbours
are closest. The answers then spread over the pool's modes instead of missing a class
by chance (40 random answers of 10 classes miss one about one time in seven), and each
is a point a first model generalises from, not an outlier. The clustering is
scikit-learn's k-means (k-means++ seeding; modAL depends on scikit-learn already).
"""

from __future__ import annotations

import numpy as np
import torch
from sklearn.cluster import KMeans

# Typicality from at most this many members of a cluster: the estimate needs a sample,
# not a cluster of 50,000 squared.
TYPICALITY_SAMPLE = 2000


def typical_pick(
    embeddings: np.ndarray, count: int, *, seed: int = 0, neighbours: int = 20
) -> np.ndarray:
    """``count`` rows of ``embeddings``, one per k-means cluster, largest cluster first.

    Each is its cluster's most typical member: the smallest mean distance to its
    ``neighbours`` nearest fellow members (TypiClust's typicality, inverted).
    """
    count = min(count, len(embeddings))
    if count <= 0:
        return np.zeros(0, dtype=np.int64)
    points = torch.from_numpy(np.ascontiguousarray(embeddings, dtype=np.float32))
    assignment = KMeans(count, n_init=1, random_state=seed).fit_predict(points.numpy())
    rng = np.random.default_rng(seed)
    sizes = np.bincount(assignment, minlength=count)
    picked = []
    for cluster in np.argsort(-sizes, kind="stable"):
        members = np.flatnonzero(assignment == cluster)
        if len(members) == 0:
            continue
        if len(members) > TYPICALITY_SAMPLE:
            members = np.sort(rng.choice(members, TYPICALITY_SAMPLE, replace=False))
        distances = torch.cdist(points[members], points[members])
        k = min(neighbours + 1, len(members))  # +1: a point is its own nearest
        spread = distances.topk(k, largest=False).values.sum(dim=1) / max(k - 1, 1)
        picked.append(members[int(spread.argmin())])
    return np.array(picked, dtype=np.int64)
