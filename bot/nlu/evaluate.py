"""Evaluation of the intent classifier: one JSON-able report for held-out data or k-fold CV.

The report says how often the bot is right (accuracy, macro-F1, per-intent precision/recall/F1,
and — for the project's own intent codes — how often it at least picks the right taxonomy
category, which decides the department a case is routed to), where it goes wrong (top
confusions), whether its confidences can be trusted (reliability table and expected calibration
error) and how fast it is (parse latency, training time).

Predictions are made with `IntentModel.parse`, one message at a time, exactly as in production.
"""

from __future__ import annotations

import re
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from sklearn.metrics import accuracy_score, f1_score, precision_recall_fscore_support

from bot.nlu.data import Example
from bot.nlu.features import prepare
from bot.nlu.model import DEFAULT_SETTINGS, IntentModel, TrainingSettings, assign_folds, train
from intents.taxonomy import Taxonomy, taxonomy

# CJK unified ideographs with extensions A–F, compatibility ideographs.
_HAN = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\U00020000-\U0002fa1f]")
RELIABILITY_BINS = 10
TOP_CONFUSIONS = 10
Clock = Callable[[], float]


def evaluate(
    train_examples: Sequence[Example],
    test_examples: Sequence[Example],
    *,
    seed: int = 0,
    settings: TrainingSettings = DEFAULT_SETTINGS,
    clock: Clock = time.perf_counter,
) -> dict[str, Any]:
    """Train on `train_examples`, evaluate on `test_examples`, return the report.

    Args:
        train_examples: (text, intent) pairs to learn from.
        test_examples: (text, intent) pairs to judge the model on.
        seed: training seed.
        settings: training hyper-parameters.
        clock: seconds counter for training time and latency (injectable for tests).

    Returns:
        The report of `build_report`.
    """
    started = clock()
    model = train(train_examples, seed=seed, settings=settings)
    train_seconds = clock() - started
    outcome = predict(model, test_examples, clock=clock)
    return build_report(
        outcome, n_train=len(train_examples), train_seconds=train_seconds, taxonomy_=taxonomy()
    )


def cross_validate(
    examples: Sequence[Example],
    k: int = 5,
    *,
    seed: int = 0,
    settings: TrainingSettings = DEFAULT_SETTINGS,
    clock: Clock = time.perf_counter,
) -> dict[str, Any]:
    """Stratified k-fold cross-validation: every example is predicted by a model not trained on it.

    Examples that are the same text after normalisation are kept in the same fold.

    The report pools the predictions of all folds; ``n_train`` and ``train_seconds`` are per
    fold (mean), ``fold_accuracy`` lists each fold's accuracy, ``accuracy_by_script`` the
    accuracy of the messages with and without Han characters.
    """
    if k < 2:
        raise ValueError("cross-validation needs k >= 2")
    gold = np.unique([intent for _, intent in examples], return_inverse=True)[1]
    # Messages that are one text after normalisation share a fold: a copy in training would
    # answer for its twin in the test.
    folds = assign_folds(gold, k, seed, [prepare(text).chars for text, _ in examples])
    pooled, pooled_texts = Outcome(), []
    fold_accuracy, train_sizes, train_times = [], [], []
    for fold in range(k):
        held_out = [example for example, f in zip(examples, folds, strict=True) if f == fold]
        training = [example for example, f in zip(examples, folds, strict=True) if f != fold]
        if not held_out:
            continue
        started = clock()
        model = train(training, seed=seed, settings=settings)
        train_times.append(clock() - started)
        train_sizes.append(len(training))
        outcome = predict(model, held_out, clock=clock)
        fold_accuracy.append(outcome.accuracy)
        pooled.extend(outcome)
        pooled_texts += [text for text, _ in held_out]
    report = build_report(
        pooled,
        n_train=round(float(np.mean(train_sizes))),
        train_seconds=float(np.mean(train_times)),
        taxonomy_=taxonomy(),
    )
    return {
        **report,
        "folds": k,
        "fold_accuracy": fold_accuracy,
        "accuracy_by_script": accuracy_by_script(pooled_texts, pooled),
    }


def accuracy_by_script(texts: Sequence[str], outcome: Outcome) -> dict[str, dict[str, Any]]:
    """Accuracy of the messages with a Han character (``han``) and of the others (``other``).

    The project's data is mostly Chinese with English beside it; the two are learnt from different
    examples, so the pooled accuracy hides how each fares. A group with no message is left out.
    """
    split: dict[str, list[bool]] = {"han": [], "other": []}
    for text, gold, predicted in zip(texts, outcome.gold, outcome.predicted, strict=True):
        split["han" if _HAN.search(text) else "other"].append(gold == predicted)
    return {
        name: {"n": len(hits), "accuracy": sum(hits) / len(hits)}
        for name, hits in split.items()
        if hits
    }


@dataclass
class Outcome:
    """Gold intents, predictions, confidences and parse latencies, one entry per message."""

    gold: list[str] = field(default_factory=list)
    predicted: list[str | None] = field(default_factory=list)
    confidence: list[float] = field(default_factory=list)
    latency: list[float] = field(default_factory=list)

    @property
    def accuracy(self) -> float:
        """Share of messages whose top intent is the gold one."""
        hits = sum(g == p for g, p in zip(self.gold, self.predicted, strict=True))
        return hits / len(self.gold) if self.gold else 0.0

    def extend(self, other: Outcome) -> None:
        """Append `other`'s messages after these."""
        self.gold += other.gold
        self.predicted += other.predicted
        self.confidence += other.confidence
        self.latency += other.latency


def predict(model: IntentModel, examples: Sequence[Example], *, clock: Clock) -> Outcome:
    """Parse every example's text one at a time, timing each parse."""
    outcome = Outcome()
    for text, intent in examples:
        started = clock()
        result = model.parse(text)
        outcome.latency.append(clock() - started)
        outcome.gold.append(intent)
        outcome.predicted.append(result["intent"]["name"])
        outcome.confidence.append(result["intent"]["confidence"])
    return outcome


def build_report(
    outcome: Outcome, *, n_train: int, train_seconds: float, taxonomy_: Taxonomy | None
) -> dict[str, Any]:
    """The evaluation report of an outcome (see the module docstring for what it holds).

    Args:
        outcome: predictions on the test messages.
        n_train: number of training examples.
        train_seconds: training time.
        taxonomy_: the taxonomy to map intents to categories; category accuracy is None when
            it is None or a gold intent is not one of its codes.
    """
    if not outcome.gold:
        raise ValueError("nothing to evaluate: no test examples")
    # An empty prediction (message empty after normalisation) counts as wrong, with its own label.
    predicted = [name if name is not None else "" for name in outcome.predicted]
    labels = sorted(set(outcome.gold) | set(predicted))
    precision, recall, f1, support = precision_recall_fscore_support(
        outcome.gold, predicted, labels=labels, zero_division=0.0
    )
    latency_ms = np.asarray(outcome.latency, dtype=np.float64) * 1000.0
    reliability, ece = reliability_table(
        outcome.confidence, [g == p for g, p in zip(outcome.gold, predicted, strict=True)]
    )
    return {
        "accuracy": float(accuracy_score(outcome.gold, predicted)),
        "macro_f1": float(
            f1_score(outcome.gold, predicted, labels=labels, average="macro", zero_division=0.0)
        ),
        "category_accuracy": category_accuracy(outcome.gold, predicted, taxonomy_),
        "per_intent": {
            label: {
                "precision": float(p),
                "recall": float(r),
                "f1": float(f),
                "support": int(s),
            }
            for label, p, r, f, s in zip(labels, precision, recall, f1, support, strict=True)
            if s or p or r
        },
        "top_confusions": top_confusions(outcome.gold, predicted),
        "latency": {
            "mean_ms": float(latency_ms.mean()),
            "p99_ms": float(np.percentile(latency_ms, 99)),
        },
        "reliability": reliability,
        "expected_calibration_error": ece,
        "n_train": n_train,
        "n_test": len(outcome.gold),
        "train_seconds": train_seconds,
    }


def category_accuracy(
    gold: Sequence[str], predicted: Sequence[str], taxonomy_: Taxonomy | None
) -> float | None:
    """Share of messages whose predicted intent is in the gold intent's taxonomy category.

    None when there is no taxonomy or a gold label is not a taxonomy code (foreign data sets).
    """
    if taxonomy_ is None or not gold:
        return None
    codes = set(taxonomy_.codes())
    if not set(gold) <= codes:
        return None

    def category(code: str) -> str | None:
        return taxonomy_.category_of(code).code if code in codes else None

    hits = sum(category(g) == category(p) for g, p in zip(gold, predicted, strict=True))
    return hits / len(gold)


def top_confusions(
    gold: Sequence[str], predicted: Sequence[str], limit: int = TOP_CONFUSIONS
) -> list[dict[str, Any]]:
    """The most frequent (gold, predicted) mistakes, most frequent first."""
    mistakes = Counter((g, p) for g, p in zip(gold, predicted, strict=True) if g != p)
    ordered = sorted(mistakes.items(), key=lambda item: (-item[1], item[0]))
    return [{"gold": g, "predicted": p, "count": n} for (g, p), n in ordered[:limit]]


def reliability_table(
    confidence: Sequence[float], correct: Sequence[bool], bins: int = RELIABILITY_BINS
) -> tuple[list[dict[str, Any]], float]:
    """Confidence bins with their count, mean confidence and accuracy; and the ECE.

    The expected calibration error is the count-weighted mean gap between a bin's mean
    confidence and its accuracy: 0 means a confidence of 0.8 is right 80 % of the time.

    Returns:
        (rows for the non-empty bins, expected calibration error).
    """
    conf = np.asarray(confidence, dtype=np.float64)
    hits = np.asarray(correct, dtype=np.float64)
    # Bin i holds [i/bins, (i+1)/bins); a confidence of exactly 1 goes to the last bin.
    index = np.clip(np.floor(conf * bins).astype(int), 0, bins - 1)
    rows, ece = [], 0.0
    for i in range(bins):
        members = index == i
        count = int(members.sum())
        if not count:
            continue
        mean_conf, accuracy = float(conf[members].mean()), float(hits[members].mean())
        rows.append(
            {
                "lower": i / bins,
                "upper": (i + 1) / bins,
                "count": count,
                "mean_confidence": mean_conf,
                "accuracy": accuracy,
            }
        )
        ece += count / len(conf) * abs(mean_conf - accuracy)
    return rows, ece
