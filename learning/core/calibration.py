"""Temperature scaling (Guo et al., 2017): one scalar that makes probabilities honest.

A strongly regularised head ranks well but is underconfident; the routing thresholds
and the cascade read probabilities as probabilities. Dividing the logits by a
temperature fitted on held-out labels (the random shadow sample) fixes the scale
without changing any prediction.
"""

from __future__ import annotations

import numpy as np
import torch
from scipy.optimize import minimize_scalar
from torch import nn

# Prior on log(temperature): normal around 0 (no change) with this spread. A few held-out
# labels that are all right would otherwise drive the fit to the smallest temperature
# allowed, saturating every probability at 1.0 so the cascade cannot rank by it; with
# thousands of labels the prior is negligible.
LOG_TEMPERATURE_PRIOR_SD = 1.0


def temperature_fit(logits: np.ndarray, leaf_positions: np.ndarray) -> float:
    """The most probable temperature given held-out labels (MAP, log-normal prior at 1)."""
    logits = torch.as_tensor(np.asarray(logits, dtype=np.float64))
    targets = torch.as_tensor(np.asarray(leaf_positions, dtype=np.int64))
    if len(targets) == 0:
        return 1.0
    prior_weight = 1.0 / (2.0 * LOG_TEMPERATURE_PRIOR_SD**2 * len(targets))

    def loss(log_temperature: float) -> float:
        scaled = logits / float(np.exp(log_temperature))
        mean_nll = float(nn.functional.cross_entropy(scaled, targets))
        return mean_nll + prior_weight * log_temperature**2

    result = minimize_scalar(loss, bounds=(np.log(0.01), np.log(100.0)), method="bounded")
    return float(np.exp(result.x))


def head_calibrate(head: nn.Linear, temperature: float) -> nn.Linear:
    """The same linear head with its logits divided by ``temperature``."""
    with torch.no_grad():
        head.weight /= temperature
        head.bias /= temperature
    return head
