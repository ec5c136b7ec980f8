import numpy as np
import pytest

from learning.core.taxonomy import Taxonomy
from tests.learning.core.helpers import (
    THREE_LEVEL,
    TWO_LEVEL,
    random_probabilities,
    small,
    three_level,
    two_level,
)


def test_it_builds_nodes_levels_and_leaves_in_order():
    taxonomy = two_level()
    assert taxonomy.levels == ("coarse", "fine")
    assert [taxonomy.nodes[i].path for i in taxonomy.level_nodes(0)] == ["vehicle", "animal"]
    assert taxonomy.leaf_names[:2] == ("airplane", "automobile")
    assert taxonomy.nodes[taxonomy.node_index("cat")].path == "animal/cat"
    assert taxonomy.nodes[taxonomy.node_index("animal/cat")].parent == taxonomy.node_index("animal")


def test_three_levels_round_trip_through_the_json_format():
    taxonomy = three_level()
    assert taxonomy.depth == 3 and taxonomy.num_leaves == 10
    assert taxonomy.nodes[taxonomy.node_index("cat")].path == "animal/mammal/cat"
    assert taxonomy.to_dict() == THREE_LEVEL
    assert Taxonomy.from_dict(taxonomy.to_dict()) == taxonomy


def test_leaf_paths_build_the_same_taxonomy_as_the_json():
    paths = [two_level().nodes[leaf].path for leaf in two_level().leaves]
    rebuilt = Taxonomy.from_leaf_paths(paths, levels=["coarse", "fine"])
    assert rebuilt.fingerprint == two_level().fingerprint


def test_fingerprint_is_stable_and_sensitive_to_structure_and_order():
    assert two_level().fingerprint == Taxonomy.from_dict(TWO_LEVEL).fingerprint
    moved = {
        **TWO_LEVEL,
        "tree": {
            "vehicle": ["airplane", "automobile", "ship"],
            "animal": ["truck", "bird", "cat", "deer", "dog", "frog", "horse"],
        },
    }
    assert Taxonomy.from_dict(moved).fingerprint != two_level().fingerprint
    assert three_level().fingerprint != two_level().fingerprint


@pytest.mark.parametrize(
    "paths",
    [["a/x", "b"], ["a/x", "a/x"], ["a//x"]],
)
def test_malformed_taxonomies_are_refused(paths):
    with pytest.raises(ValueError):
        Taxonomy.from_leaf_paths(paths, levels=["coarse", "fine"])


def test_ambiguous_and_missing_names_raise():
    taxonomy = Taxonomy.from_leaf_paths(["a/x", "b/x"])
    assert taxonomy.node_index("b/x") == taxonomy.leaves[1]
    with pytest.raises(KeyError, match="ambiguous"):
        taxonomy.node_index("x")
    with pytest.raises(KeyError, match="not"):
        taxonomy.node_index("zebra")


@pytest.mark.parametrize("build", [two_level, three_level, small])
def test_inner_node_probability_is_the_sum_of_its_leaves(build):
    taxonomy = build()
    probs = random_probabilities(50, taxonomy.num_leaves)
    node_probs = taxonomy.node_probabilities(probs)
    for node in taxonomy.nodes:
        leaves = [
            column
            for column, leaf in enumerate(taxonomy.leaves)
            if node.index in taxonomy.ancestors(leaf)
        ]
        np.testing.assert_allclose(node_probs[:, node.index], probs[:, leaves].sum(axis=1))
    for level in range(taxonomy.depth):
        np.testing.assert_allclose(taxonomy.level_probabilities(probs, level).sum(axis=1), 1.0)


@pytest.mark.parametrize("build", [two_level, three_level])
def test_top_down_prediction_is_a_consistent_path(build):
    taxonomy = build()
    probs = random_probabilities(200, taxonomy.num_leaves, seed=3)
    path = taxonomy.predict_top_down(probs)
    node_probs = taxonomy.node_probabilities(probs)
    top = taxonomy.level_nodes(0)
    np.testing.assert_array_equal(path[:, 0], top[node_probs[:, top].argmax(axis=1)])
    for level in range(1, taxonomy.depth):
        parents = np.array([taxonomy.nodes[n].parent for n in path[:, level]])
        np.testing.assert_array_equal(parents, path[:, level - 1])


def test_top_down_can_differ_from_the_flat_argmax():
    taxonomy = small()
    # Leaf a1 is the single most likely leaf, but coarse b holds more mass.
    probs = np.array([[0.4, 0.0, 0.35, 0.25]])
    path = taxonomy.predict_top_down(probs)
    assert taxonomy.nodes[path[0, -1]].path == "b/b1"
    assert taxonomy.nodes[path[0, 0]].path == "b"


def test_metrics_on_a_hand_made_case():
    taxonomy = small()
    one_hot = np.eye(4)
    # Predictions: a1 (right), a2 for a1 (sibling mistake), b1 for a1 (coarse mistake), b2 (right).
    probs = one_hot[[0, 1, 2, 3]]
    truth = np.array([0, 0, 0, 3])
    metrics = taxonomy.evaluate(probs, truth)
    assert metrics["acc_fine"] == pytest.approx(0.5)
    assert metrics["acc_coarse"] == pytest.approx(0.75)
    assert metrics["hierarchical_f1"] == pytest.approx((0.5 + 0.75) / 2)
    # One mistake under the same parent (height 1), one across the root (height 2).
    assert metrics["mistake_severity"] == pytest.approx(1.5)
    perfect = taxonomy.evaluate(one_hot, np.arange(4))
    assert perfect["hierarchical_f1"] == 1.0 and perfect["mistake_severity"] == 0.0


def test_three_level_metrics_count_every_level():
    taxonomy = three_level()
    cat, dog, frog = (
        taxonomy.leaf_position(taxonomy.node_index(n)) for n in ("cat", "dog", "frog")
    )
    probs = np.eye(10)[[dog, frog]]
    metrics = taxonomy.evaluate(probs, np.array([cat, cat]))
    assert metrics["accuracy"] == {"domain": 1.0, "group": 0.5, "class": 0.0}
    assert metrics["mistake_severity"] == pytest.approx((1 + 2) / 2)
