import numpy as np
import pytest

from learning.core.propagation import blend, build_graph, extend, propagate
from tests.learning.core.helpers import small


@pytest.fixture(scope="module")
def clusters():
    """Four well separated clusters of 30 points in 6-d, one per leaf of ``small()``."""
    rng = np.random.default_rng(0)
    centres = np.eye(6)[:4] * 10
    points = np.concatenate([centre + rng.normal(0, 0.5, (30, 6)) for centre in centres])
    return points.astype(np.float32), np.repeat(np.arange(4), 30)


def test_one_label_per_cluster_spreads_to_the_whole_cluster(clusters):
    points, truth = clusters
    taxonomy = small()
    graph = build_graph(points, neighbours=5, dims=4)
    labeled = np.array([0, 30, 60, 90])
    spread = propagate(graph, labeled, np.asarray(taxonomy.leaves)[truth[labeled]], taxonomy)
    assert spread.shape == (120, 4)
    np.testing.assert_allclose(spread.sum(axis=1), 1.0, atol=1e-5)
    assert (spread.argmax(axis=1) == truth).mean() == 1.0


def test_a_coarse_only_label_spreads_evenly_over_its_leaves(clusters):
    points, _ = clusters
    taxonomy = small()
    graph = build_graph(points, neighbours=5, dims=4)
    spread = propagate(graph, np.array([0]), np.array([taxonomy.node_index("a")]), taxonomy)
    np.testing.assert_allclose(spread[1, :2], [0.5, 0.5], atol=1e-5)
    # The label never reaches the other clusters: they stay uniform.
    np.testing.assert_allclose(spread[100], 0.25, atol=1e-5)


def test_new_points_take_their_neighbours_distribution(clusters):
    points, truth = clusters
    taxonomy = small()
    graph = build_graph(points, neighbours=5, dims=4)
    labeled = np.array([0, 30, 60, 90])
    spread = propagate(graph, labeled, np.asarray(taxonomy.leaves)[truth[labeled]], taxonomy)
    new_points = np.eye(6)[[2, 3]].astype(np.float32) * 10
    predicted = extend(spread, *graph.neighbours_of(new_points, count=5)).argmax(axis=1)
    assert predicted.tolist() == [2, 3]


def test_no_labels_give_uniform_distributions_and_blend_keeps_rows_normalised(clusters):
    points, _ = clusters
    taxonomy = small()
    graph = build_graph(points, neighbours=5, dims=4)
    spread = propagate(graph, np.zeros(0, dtype=int), np.zeros(0, dtype=int), taxonomy)
    np.testing.assert_allclose(spread, 0.25)
    head = np.random.default_rng(1).dirichlet(np.ones(4), size=120)
    np.testing.assert_allclose(blend(head, spread, 0.3).sum(axis=1), 1.0, atol=1e-5)
