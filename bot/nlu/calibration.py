"""Temperature scaling: turn a linear model's scores into probabilities that mean what they say.

A linear SVM's scores rank intents well but are not probabilities. One number, the temperature
`T`, is fitted on scores the model gave to examples it did not see in training (held-out folds)
by minimising the negative log-likelihood of the true intents under ``softmax(scores / T)``. A
confidence of 0.8 then means the top intent is right about 80 % of the time, so a threshold such
as "ask again below 0.5" means what it says. One parameter cannot overfit and keeps the ranking.
"""

from __future__ import annotations

import numpy as np

# Searched on log T; outside this range a fit has gone wrong (e.g. perfectly separated folds).
MIN_TEMPERATURE = 0.01
MAX_TEMPERATURE = 100.0


def softmax(scores: np.ndarray, temperature: float = 1.0) -> np.ndarray:
    """Row-wise softmax of ``scores / temperature``; rows sum to 1, no overflow."""
    scaled = np.asarray(scores, dtype=np.float64) / temperature
    scaled -= scaled.max(axis=-1, keepdims=True)
    exp = np.exp(scaled)
    return exp / exp.sum(axis=-1, keepdims=True)


def negative_log_likelihood(scores: np.ndarray, gold: np.ndarray, temperature: float) -> float:
    """Mean negative log-probability of the `gold` column of each row under the temperature."""
    scaled = np.asarray(scores, dtype=np.float64) / temperature
    scaled -= scaled.max(axis=1, keepdims=True)
    log_norm = np.log(np.exp(scaled).sum(axis=1))
    return float(np.mean(log_norm - scaled[np.arange(len(gold)), gold]))


def fit_temperature(scores: np.ndarray, gold: np.ndarray) -> float:
    """The temperature minimising the negative log-likelihood of `gold` given held-out `scores`.

    Args:
        scores: held-out scores, one row per example, one column per intent.
        gold: the index of the true intent of each row.

    Returns:
        The fitted temperature, 1.0 when there is nothing to fit on.
    """
    if len(gold) == 0:
        return 1.0
    from scipy.optimize import minimize_scalar  # training only; parsing needs just `softmax`

    result = minimize_scalar(
        lambda log_t: negative_log_likelihood(scores, gold, float(np.exp(log_t))),
        bounds=(np.log(MIN_TEMPERATURE), np.log(MAX_TEMPERATURE)),
        method="bounded",
    )
    return float(np.exp(result.x))
