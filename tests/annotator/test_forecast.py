"""The accuracy forecast on synthetic learning curves: pure numpy, no database."""

import math

import numpy as np
import pytest

from annotator.forecast import accuracy_forecast


def _curve(labels, *, ceiling=0.9, scale=2.0, exponent=0.5, noise=0.0, seed=0):
    rng = np.random.default_rng(seed)
    accuracy = ceiling - scale * np.power(np.asarray(labels, dtype=float), -exponent)
    accuracy = accuracy + rng.normal(0, noise, len(accuracy))
    return list(zip(labels, np.clip(accuracy, 0, 1).tolist(), strict=True))


LABELS = [100, 200, 400, 800, 1600]


def test_recovers_a_clean_power_law():
    forecast = accuracy_forecast(_curve(LABELS), at_labels=10_000)

    assert forecast.method == "power_law"
    assert forecast.points == 5
    assert forecast.accuracy == pytest.approx(0.9 - 2.0 * 10_000**-0.5, abs=0.005)


def test_noisy_curve_lands_near_the_truth():
    forecast = accuracy_forecast(_curve(LABELS * 2, noise=0.01, seed=3), at_labels=5_000)
    assert forecast.accuracy == pytest.approx(0.9 - 2.0 * 5_000**-0.5, abs=0.04)


def test_more_labels_never_forecast_less():
    points = _curve(LABELS, noise=0.01, seed=1)
    forecasts = [
        accuracy_forecast(points, at_labels=n).accuracy for n in (500, 2_000, 10**4, 10**6)
    ]
    assert forecasts == sorted(forecasts)


def test_saturates_below_one():
    # A steep curve near the top: extrapolating a line would pass 100%.
    points = _curve(LABELS, ceiling=0.99, scale=5.0, exponent=0.8)
    far = accuracy_forecast(points, at_labels=10**9).accuracy
    assert far <= 1.0
    assert far == pytest.approx(0.99, abs=0.01)


def test_a_falling_curve_stays_a_probability():
    points = [(100, 0.8), (200, 0.7), (400, 0.6), (800, 0.5)]
    forecast = accuracy_forecast(points, at_labels=5_000)
    assert 0.0 <= forecast.accuracy <= 1.0


@pytest.mark.parametrize(
    "points, expected",
    [([(100, 0.61)], 0.61), ([(100, 0.5), (300, 0.64)], 0.64), ([(300, 0.64), (100, 0.5)], 0.64)],
)
def test_fewer_than_three_points_give_the_last_value(points, expected):
    forecast = accuracy_forecast(points, at_labels=10_000)
    assert forecast.method == "last_value"
    assert forecast.accuracy == expected


def test_no_points_no_forecast():
    forecast = accuracy_forecast([], at_labels=1_000)
    assert (forecast.accuracy, forecast.method, forecast.points) == (None, "none", 0)


def test_bad_points_are_ignored_and_repeats_averaged():
    points = [(0, 0.2), (100, math.nan), (100, 0.5), (100, 0.7), (200, 1.5), (300, math.inf)]
    forecast = accuracy_forecast(points, at_labels=1_000)
    assert forecast.points == 1
    assert forecast.accuracy == pytest.approx(0.6)
