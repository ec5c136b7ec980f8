import numpy as np
import torch
from torch import nn

from learning.core.calibration import head_calibrate, temperature_fit


def test_temperature_recovers_the_scale_of_shrunk_logits():
    rng = np.random.default_rng(0)
    true_logits = rng.normal(0, 3, (4000, 5))
    probs = np.exp(true_logits) / np.exp(true_logits).sum(axis=1, keepdims=True)
    labels = np.array([rng.choice(5, p=row) for row in probs])
    # An underconfident model: the right ranking, logits shrunk four times.
    temperature = temperature_fit(true_logits / 4, labels)
    assert 0.2 < temperature < 0.3


def test_a_few_labels_all_right_do_not_saturate_the_probabilities():
    # 20 held-out items, every one predicted right by a logit margin of 3: the likelihood
    # alone falls as the temperature goes to zero; the prior keeps it moderate.
    logits = np.zeros((20, 10))
    labels = np.arange(20) % 10
    logits[np.arange(20), labels] = 3.0
    temperature = temperature_fit(logits, labels)
    assert 0.2 < temperature < 1.0
    sharpened = torch.softmax(torch.tensor(logits / temperature, dtype=torch.float32), dim=1)
    assert sharpened.max() < 1.0  # still ranks: float32 has not rounded it to certainty


def test_calibrated_head_keeps_predictions_and_sharpens_probabilities():
    head = nn.Linear(3, 4)
    features = torch.randn(50, 3)
    before = head(features).softmax(dim=1)
    head_calibrate(head, 0.25)
    after = head(features).softmax(dim=1)
    assert torch.equal(before.argmax(dim=1), after.argmax(dim=1))
    assert (after.max(dim=1).values >= before.max(dim=1).values - 1e-6).all()


def test_no_labels_means_no_change():
    assert temperature_fit(np.zeros((0, 3)), np.zeros(0)) == 1.0
