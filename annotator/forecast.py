"""Where the learning curve is heading: accuracy after n human labels, extrapolated.

Pure numpy/scipy, no Django: the curve comes in as (human labels, accuracy) points.
"""

import math
import warnings
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

import numpy as np
from scipy.optimize import OptimizeWarning, curve_fit

MIN_POINTS_TO_FIT = 3


@dataclass(frozen=True)
class Forecast:
    accuracy: float | None
    method: Literal["power_law", "last_value", "none"]
    points: int


def _power_law(n: np.ndarray, a: float, b: float, c: float) -> np.ndarray:
    """acc(n) = a - b * n^-c: rises with n (b, c > 0) and saturates at a."""
    return a - b * np.power(n, -c)


def _points_clean(points: Iterable[tuple[int, float]]) -> tuple[np.ndarray, np.ndarray]:
    """Finite points with n > 0 and accuracy in [0, 1], by n; a repeated n keeps its mean."""
    by_labels: dict[float, list[float]] = {}
    for labels, accuracy in points:
        if math.isfinite(labels) and math.isfinite(accuracy) and labels > 0 and 0 <= accuracy <= 1:
            by_labels.setdefault(float(labels), []).append(float(accuracy))
    labels = np.array(sorted(by_labels))
    return labels, np.array([np.mean(by_labels[n]) for n in labels])


def accuracy_forecast(points: Iterable[tuple[int, float]], *, at_labels: int) -> Forecast:
    """Expected accuracy after ``at_labels`` human labels.

    Fits the saturating power law ``a - b * n^-c`` with ``a <= 1`` and ``b, c >= 0``, so
    the forecast never falls as labels are added and never exceeds 1. With fewer than
    three distinct points, or when the fit fails, the last measured accuracy is the
    forecast: no trend can be read from less.
    """
    labels, accuracies = _points_clean(points)
    if len(labels) == 0:
        return Forecast(accuracy=None, method="none", points=0)
    last = Forecast(accuracy=float(accuracies[-1]), method="last_value", points=len(labels))
    if len(labels) < MIN_POINTS_TO_FIT:
        return last
    ceiling_guess = min(1.0, float(accuracies.max()) + 0.05)
    exponent_guess = 0.5
    scale_guess = max((ceiling_guess - accuracies[0]) * labels[0] ** exponent_guess, 1e-6)
    try:
        with warnings.catch_warnings():
            # Warns when the covariance is unknown (three points, three parameters);
            # only the parameters are used.
            warnings.simplefilter("ignore", OptimizeWarning)
            parameters, _ = curve_fit(
                _power_law,
                labels,
                accuracies,
                p0=(ceiling_guess, scale_guess, exponent_guess),
                bounds=((0.0, 0.0, 0.0), (1.0, np.inf, 3.0)),
                maxfev=5000,
            )
    except (RuntimeError, ValueError):  # no convergence, or non-finite residuals
        return last
    predicted = float(_power_law(np.array([float(max(at_labels, 1))]), *parameters)[0])
    if not math.isfinite(predicted):
        return last
    return Forecast(accuracy=min(max(predicted, 0.0), 1.0), method="power_law", points=len(labels))
