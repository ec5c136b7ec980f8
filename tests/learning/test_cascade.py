import numpy as np
import pytest

from learning.core.cascade import clopper_pearson_lower, threshold_choose


def test_clopper_pearson_matches_known_values():
    # All 299 correct: the 95% lower bound just reaches 0.99 (0.05 ** (1/299)).
    assert clopper_pearson_lower(299, 299) == pytest.approx(0.05 ** (1 / 299))
    assert clopper_pearson_lower(299, 299) >= 0.99 > clopper_pearson_lower(298, 298)
    assert clopper_pearson_lower(0, 10) == 0.0
    assert clopper_pearson_lower(50, 100) < 0.5


def test_threshold_is_the_lowest_supported_one():
    rng = np.random.default_rng(0)
    confident = rng.uniform(0.95, 1.0, 400)  # all correct
    middling = rng.uniform(0.6, 0.95, 400)  # 20% wrong
    scores = np.concatenate([confident, middling])
    correct = np.concatenate([np.ones(400, bool), rng.random(400) > 0.2])

    chosen = threshold_choose(scores, correct, target=0.99)

    assert chosen is not None
    assert 0.9 <= chosen.threshold <= confident.min() + 1e-12
    assert chosen.precision_lower_bound >= 0.99
    above = scores >= chosen.threshold
    assert chosen.audited_above == above.sum()
    assert chosen.correct_above == correct[above].sum()


def test_no_threshold_from_too_few_audits_or_errors_at_the_top():
    assert threshold_choose(np.full(100, 0.999), np.ones(100, bool)) is None
    scores = np.linspace(1.0, 0.5, 1000)
    correct = np.ones(1000, bool)
    correct[::20] = False  # 5% wrong everywhere, including the top
    assert threshold_choose(scores, correct, target=0.99) is None
    assert threshold_choose(np.array([]), np.array([], bool)) is None


def test_non_finite_confidences_are_ignored():
    scores = np.concatenate([np.full(400, 0.99), [np.nan, np.inf]])
    correct = np.concatenate([np.ones(400, bool), [False, False]])
    assert threshold_choose(scores, correct).audited_above == 400
