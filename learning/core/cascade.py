"""The cascade (after LSUN): auto-accept predictions above a threshold whose precision,
measured on a random audit sample answered by people, is high enough.

For a threshold ``t`` the audited items with confidence >= ``t`` are a uniform random
sample of all items above ``t``, so their share of correct predictions estimates the
precision of auto-accepting everything above ``t``. We take the lowest ``t`` whose
one-sided Clopper-Pearson lower bound reaches the target: with a 99% target at 95%
confidence that needs at least 299 audited items above ``t``, all correct.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.stats import beta


def clopper_pearson_lower(successes: int, trials: int, confidence: float = 0.95) -> float:
    """One-sided lower confidence bound on a binomial proportion (exact)."""
    if trials <= 0 or successes <= 0:
        return 0.0
    return float(beta.ppf(1.0 - confidence, successes, trials - successes + 1))


@dataclass(frozen=True)
class Threshold:
    """The chosen threshold with what supports it."""

    threshold: float
    audited_above: int
    correct_above: int
    precision_lower_bound: float


def threshold_choose(
    audit_confidence: np.ndarray,
    audit_correct: np.ndarray,
    target: float = 0.99,
    confidence: float = 0.95,
) -> Threshold | None:
    """Lowest confidence threshold whose precision lower bound is >= ``target``.

    ``audit_confidence`` is the model's confidence in its predicted path for each
    audited item and ``audit_correct`` whether the person confirmed that path. Returns
    None when no threshold is supported (too few or too many wrong audits).
    """
    scores = np.asarray(audit_confidence, dtype=np.float64)
    correct = np.asarray(audit_correct, dtype=bool)
    keep = np.isfinite(scores)
    scores, correct = scores[keep], correct[keep]
    if len(scores) == 0:
        return None
    order = np.argsort(-scores, kind="stable")
    scores, correct = scores[order], correct[order]
    # Above-threshold counts for a threshold at each distinct score, highest first.
    correct_above = np.cumsum(correct)
    audited_above = np.arange(1, len(scores) + 1)
    best = None
    for position in range(len(scores)):
        if position + 1 < len(scores) and scores[position + 1] == scores[position]:
            continue  # ties: the threshold takes every item with this score
        bound = clopper_pearson_lower(
            int(correct_above[position]), int(audited_above[position]), confidence
        )
        if bound >= target:
            best = Threshold(
                threshold=float(scores[position]),
                audited_above=int(audited_above[position]),
                correct_above=int(correct_above[position]),
                precision_lower_bound=bound,
            )
    return best
