import numpy as np

from learning.core.clusters import typical_pick


def blobs(sizes, seed=0):
    """Gaussian blobs far apart, each with one far outlier: points and their blob."""
    rng = np.random.default_rng(seed)
    centres = np.array([[0, 0], [40, 0], [0, 40], [40, 40]], dtype=np.float32)[: len(sizes)]
    points, blob = [], []
    for index, (centre, size) in enumerate(zip(centres, sizes, strict=True)):
        points += [centre + rng.normal(0, 1, (size - 1, 2)), centre + [[6.0, 6.0]]]
        blob += [index] * size
    return np.concatenate(points).astype(np.float32), np.array(blob)


def test_the_first_batch_takes_a_typical_point_of_every_blob_largest_first():
    points, blob = blobs([30, 80, 50, 20])

    picked = typical_pick(points, 4, seed=3)

    assert blob[picked].tolist() == [1, 2, 0, 3]  # one per blob, the largest first
    centres = np.array([points[blob == index].mean(axis=0) for index in blob[picked]])
    # Typical points sit in the middle of their blob, not on its outlier (8.5 away).
    assert np.linalg.norm(points[picked] - centres, axis=1).max() < 1.5


def test_a_batch_larger_than_the_pool_takes_each_point_once():
    points, _ = blobs([3, 3])
    picked = typical_pick(points, 10)
    assert sorted(picked.tolist()) == list(range(6))
    assert typical_pick(points[:0], 5).tolist() == []
