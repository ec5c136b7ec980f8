import modAL.uncertainty
import numpy as np
import pytest

from learning.core import strategies
from learning.core.strategies import STRATEGIES, PoolState, route, select
from tests.learning.core.helpers import random_probabilities, small, three_level, two_level

ALL = sorted(STRATEGIES)


def pool_state(rows: int = 60, seed: int = 0, **overrides) -> PoolState:
    taxonomy = overrides.pop("taxonomy", two_level())
    rng = np.random.default_rng(seed)
    defaults = {
        "taxonomy": taxonomy,
        "leaf_probs": random_probabilities(rows, taxonomy.num_leaves, seed),
        "embeddings": rng.normal(size=(rows, 5)),
        "labeled_embeddings": rng.normal(size=(3, 5)),
        "labeled_leaf_counts": np.arange(taxonomy.num_leaves),
    }
    return PoolState(**{**defaults, **overrides})


@pytest.mark.parametrize("name", ALL)
def test_every_strategy_returns_a_ranked_batch_of_unique_pool_positions(name):
    selection = select(name, pool_state(), 25, seed=1)
    assert len(selection.indices) == 25
    assert len(set(selection.indices.tolist())) == 25
    assert selection.indices.min() >= 0 and selection.indices.max() < 60
    assert len(selection.modes) == 25 and set(selection.modes) <= {"full", "fine", "verify"}


@pytest.mark.parametrize("name", ALL)
def test_every_strategy_survives_nan_and_inf(name):
    state = pool_state()
    probs = state.leaf_probs.copy()
    probs[0] = np.nan
    probs[1, 0] = np.inf
    probs[2] = 0.0
    embeddings = state.embeddings.copy()
    embeddings[3, 0] = np.nan
    broken = PoolState(
        state.taxonomy, probs, embeddings, state.labeled_embeddings, state.labeled_leaf_counts
    )
    selection = select(name, broken, 60, seed=1)
    assert sorted(selection.indices.tolist()) == list(range(60))


@pytest.mark.parametrize("name", ["least_confidence", "margin", "entropy", "hierarchical"])
def test_uncertainty_strategies_rank_invalid_rows_last(name):
    state = pool_state()
    probs = state.leaf_probs.copy()
    probs[[0, 5]] = np.nan
    selection = select(name, PoolState(state.taxonomy, probs), 60)
    assert set(selection.indices[-2:].tolist()) == {0, 5}


@pytest.mark.parametrize("name", ALL)
def test_every_strategy_handles_an_empty_pool(name):
    taxonomy = two_level()
    empty = PoolState(taxonomy, np.zeros((0, 10)), np.zeros((0, 5)), np.zeros((0, 5)))
    selection = select(name, empty, 10)
    assert selection.indices.shape == (0,) and selection.modes == ()


@pytest.mark.parametrize("name", ALL)
def test_a_batch_larger_than_the_pool_returns_the_whole_pool(name):
    selection = select(name, pool_state(rows=7), 100)
    assert sorted(selection.indices.tolist()) == list(range(7))


def test_unknown_strategy_is_a_clear_error():
    with pytest.raises(KeyError, match="unknown strategy"):
        select("magic", pool_state(), 3)


def test_random_is_reproducible_under_a_seed():
    assert np.array_equal(
        select("random", pool_state(), 10, 4).indices, select("random", pool_state(), 10, 4).indices
    )


def test_margin_goes_through_modal_and_agrees_with_modal_margin_sampling(monkeypatch):
    calls = []
    real = strategies.classifier_margin

    def spy(classifier, positions):
        calls.append(len(positions))
        return real(classifier, positions)

    monkeypatch.setattr(strategies, "classifier_margin", spy)
    state = pool_state(rows=80)
    ours = select("margin", state, 10).indices
    assert calls == [80]
    # modAL's own query function, fed the same precomputed probabilities.
    theirs, _ = modAL.uncertainty.margin_sampling(
        strategies._Probabilities(state.leaf_probs), np.arange(80).reshape(-1, 1), n_instances=10
    )
    assert set(ours.tolist()) == set(theirs.tolist())
    margins = -np.diff(np.sort(state.leaf_probs, axis=1)[:, -2:], axis=1).ravel()
    assert np.all(np.diff(-margins[ours]) >= 0)  # smallest margin first


@pytest.mark.parametrize(
    ("name", "modal_function"),
    [
        ("least_confidence", modAL.uncertainty.uncertainty_sampling),
        ("entropy", modAL.uncertainty.entropy_sampling),
    ],
)
def test_other_uncertainty_measures_match_modal(name, modal_function):
    state = pool_state(rows=50, seed=2)
    ours = select(name, state, 8).indices
    theirs, _ = modal_function(
        strategies._Probabilities(state.leaf_probs), np.arange(50).reshape(-1, 1), n_instances=8
    )
    assert set(ours.tolist()) == set(theirs.tolist())


def test_routing_assigns_full_fine_and_verify():
    taxonomy = small()  # a: a1 a2, b: b1 b2
    probs = np.array(
        [
            [0.30, 0.20, 0.25, 0.25],  # coarse unsure -> full
            [0.50, 0.46, 0.02, 0.02],  # coarse a sure, fine a1 vs a2 unsure -> fine
            [0.95, 0.03, 0.01, 0.01],  # both sure -> verify
        ]
    )
    modes, settled = route(probs, taxonomy, confident_threshold=0.9)
    assert modes == ("full", "fine", "verify")
    assert settled.tolist() == [0, 1, 2]


def test_routing_in_three_levels_reports_how_deep_it_is_sure():
    taxonomy = three_level()
    probs = np.zeros((1, 10))
    cat, dog = (taxonomy.leaf_position(taxonomy.node_index(n)) for n in ("cat", "dog"))
    probs[0, [cat, dog]] = [0.49, 0.49]
    probs[0, probs[0] == 0] = 0.02 / 8
    modes, settled = route(probs, taxonomy)
    assert modes == ("fine",) and settled.tolist() == [2]  # animal and mammal are settled


def test_hierarchical_prefers_items_whose_weakest_level_is_uncertain():
    taxonomy = small()
    probs = np.array(
        [
            [0.97, 0.01, 0.01, 0.01],  # sure everywhere
            [0.49, 0.49, 0.01, 0.01],  # coarse sure, fine a coin flip
            [0.30, 0.20, 0.30, 0.20],  # coarse a coin flip
        ]
    )
    selection = select("hierarchical", PoolState(taxonomy, probs), 3)
    assert selection.indices.tolist()[-1] == 0
    assert set(selection.indices.tolist()[:2]) == {1, 2}
    assert dict(zip(selection.indices.tolist(), selection.modes, strict=True))[1] == "fine"


def test_class_balanced_serves_rare_classes_first():
    taxonomy = small()
    # Ten items predicted as each of the four leaves.
    probs = np.repeat(np.eye(4) * 0.7 + 0.075, 10, axis=0)
    counts = np.array([50, 0, 50, 5])  # a2 has none, b2 a few
    state = PoolState(taxonomy, probs, labeled_leaf_counts=counts, minimum_per_class=10)
    picked = select("balanced", state, 16).indices
    predicted = probs[picked].argmax(axis=1)
    assert set(predicted[:15].tolist()) == {1, 3}  # rare classes until they reach 10
    assert predicted[:10].tolist().count(1) >= 5
    later = select(
        "balanced", PoolState(taxonomy, probs, labeled_leaf_counts=np.array([50, 20, 50, 20])), 12
    ).indices
    later_predicted = probs[later].argmax(axis=1).tolist()
    # Quotas ~ 1/(count+1): the classes with 20 labels get more of the batch than those with 50.
    assert later_predicted.count(1) + later_predicted.count(3) > later_predicted.count(
        0
    ) + later_predicted.count(2)


def test_kcenter_picks_one_point_per_cluster():
    rng = np.random.default_rng(0)
    centres = np.array([[0, 0], [10, 0], [0, 10], [10, 10]], dtype=float)
    embeddings = np.concatenate([centre + rng.normal(0, 0.1, (25, 2)) for centre in centres])
    state = PoolState(two_level(), random_probabilities(100, 10), embeddings, np.zeros((0, 2)))
    picked = select("kcenter", state, 4).indices
    assert sorted((picked // 25).tolist()) == [0, 1, 2, 3]


def test_kcenter_avoids_what_is_already_labelled():
    embeddings = np.array([[0.0, 0.0], [0.1, 0.0], [5.0, 5.0]])
    state = PoolState(two_level(), random_probabilities(3, 10), embeddings, np.array([[0.0, 0.0]]))
    assert select("kcenter", state, 1).indices.tolist() == [2]


def test_combined_spreads_an_uncertain_batch_over_classes_and_space():
    taxonomy = small()
    rng = np.random.default_rng(1)
    # 6 near-duplicate, most uncertain items predicted a1, then 4 items per other leaf.
    probs = np.concatenate(
        [np.tile([0.4, 0.3, 0.15, 0.15], (6, 1)), np.repeat(np.eye(4)[1:] * 0.3 + 0.175, 4, axis=0)]
    )
    embeddings = np.concatenate([rng.normal(0, 0.01, (6, 2)), rng.normal(0, 5, (12, 2))])
    state = PoolState(
        taxonomy, probs, embeddings, np.zeros((0, 2)), np.zeros(4), minimum_per_class=0
    )
    picked = select("combined", state, 8).indices  # candidates: the 16 most uncertain
    assert len(set(probs[picked].argmax(axis=1).tolist())) == 4
    assert (picked < 6).sum() <= 2
