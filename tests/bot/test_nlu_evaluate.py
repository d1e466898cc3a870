"""Tests for bot.nlu.evaluate: the evaluation report and cross-validation."""

from __future__ import annotations

import itertools
import json
from collections.abc import Callable

import numpy as np
import pytest

from bot.nlu.evaluate import (
    Outcome,
    accuracy_by_script,
    build_report,
    category_accuracy,
    cross_validate,
    evaluate,
    reliability_table,
)
from intents.taxonomy import taxonomy

REPORT_KEYS = {
    "accuracy",
    "macro_f1",
    "category_accuracy",
    "per_intent",
    "top_confusions",
    "latency",
    "reliability",
    "expected_calibration_error",
    "n_train",
    "n_test",
    "train_seconds",
}
TOY = [
    *((text, "pension") for text in ["养老金", "养老保险", "领养老金", "交养老保险", "养老金多少"]),
    *((text, "homestead") for text in ["宅基地", "建房审批", "宅基地证", "盖房子", "宅基地纠纷"]),
    *((text, "greet") for text in ["你好", "您好", "在吗", "有人吗", "早上好"]),
]


def ticking_clock(step: float = 0.001) -> Callable[[], float]:
    """A clock advancing `step` seconds per reading."""
    counter = itertools.count()
    return lambda: next(counter) * step


@pytest.fixture
def known_outcome() -> Outcome:
    """Four messages: one 'a' taken for 'b', the rest right; 1 ms each."""
    return Outcome(
        gold=["a", "a", "b", "b"],
        predicted=["a", "b", "b", "b"],
        confidence=[0.95, 0.65, 0.85, 0.75],
        latency=[0.001] * 4,
    )


def test_report_of_a_known_confusion(known_outcome: Outcome) -> None:
    """Accuracy, per-intent scores, confusions and latency match a hand computation."""
    report = build_report(known_outcome, n_train=10, train_seconds=1.5, taxonomy_=None)
    assert set(report) == REPORT_KEYS
    assert report["accuracy"] == 0.75
    assert report["per_intent"]["a"] == {
        "precision": 1.0,
        "recall": 0.5,
        "f1": pytest.approx(2 / 3),
        "support": 2,
    }
    assert report["per_intent"]["b"]["precision"] == pytest.approx(2 / 3)
    assert report["per_intent"]["b"]["recall"] == 1.0
    assert report["macro_f1"] == pytest.approx((2 / 3 + 0.8) / 2)
    assert report["top_confusions"] == [{"gold": "a", "predicted": "b", "count": 1}]
    assert report["category_accuracy"] is None
    assert report["latency"]["mean_ms"] == pytest.approx(1.0)
    assert report["latency"]["p99_ms"] == pytest.approx(1.0)
    assert (report["n_train"], report["n_test"], report["train_seconds"]) == (10, 4, 1.5)
    json.dumps(report)


def test_reliability_table_and_calibration_error(known_outcome: Outcome) -> None:
    """Each confidence lands in its bin; ECE is the weighted confidence–accuracy gap."""
    rows, ece = reliability_table(known_outcome.confidence, [True, False, True, True])
    assert [(row["lower"], row["count"], row["accuracy"]) for row in rows] == [
        (0.6, 1, 0.0),
        (0.7, 1, 1.0),
        (0.8, 1, 1.0),
        (0.9, 1, 1.0),
    ]
    assert ece == pytest.approx((0.65 + 0.25 + 0.15 + 0.05) / 4)


def test_reliability_edges() -> None:
    """Confidences of exactly 0 and 1 fall in the first and last bins."""
    rows, ece = reliability_table([0.0, 1.0], [False, True])
    assert [(row["lower"], row["upper"]) for row in rows] == [(0.0, 0.1), (0.9, 1.0)]
    assert ece == 0.0


def test_category_accuracy_uses_taxonomy() -> None:
    """A wrong intent in the right category counts; foreign labels give None."""
    gold = ["social_minimum_living", "social_pension"]
    predicted = ["social_pension", "land_title"]
    assert category_accuracy(gold, predicted, taxonomy()) == 0.5
    assert category_accuracy(["chat"], ["chat"], taxonomy()) is None
    assert category_accuracy(gold, predicted, None) is None


def test_empty_prediction_counts_as_wrong() -> None:
    """A message with no intent (empty after normalisation) is a miss, not a crash."""
    outcome = Outcome(
        gold=["a", "b"], predicted=["a", None], confidence=[0.9, 0.0], latency=[0.0] * 2
    )
    report = build_report(outcome, n_train=2, train_seconds=0.0, taxonomy_=None)
    assert report["accuracy"] == 0.5
    assert report["top_confusions"] == [{"gold": "b", "predicted": "", "count": 1}]


def test_no_test_examples_is_an_error() -> None:
    """An empty test set is refused rather than reported as perfect or zero."""
    with pytest.raises(ValueError, match="no test examples"):
        build_report(Outcome(), n_train=1, train_seconds=0.0, taxonomy_=None)


def test_evaluate_trains_and_reports() -> None:
    """Held-out evaluation on toy data: full report, timings from the given clock."""
    report = evaluate(
        TOY, [("养老金怎么领", "pension"), ("你好呀", "greet")], clock=ticking_clock()
    )
    assert set(report) == REPORT_KEYS
    assert report["accuracy"] == 1.0
    assert report["n_train"] == len(TOY)
    assert report["n_test"] == 2
    assert report["train_seconds"] == pytest.approx(0.001)
    assert report["latency"]["mean_ms"] == pytest.approx(1.0)


def test_cross_validate_pools_all_examples() -> None:
    """K-fold CV predicts every example once and reports per-fold accuracy."""
    report = cross_validate(TOY, 3, clock=ticking_clock())
    assert set(report) == REPORT_KEYS | {"folds", "fold_accuracy", "accuracy_by_script"}
    assert report["accuracy_by_script"]["han"]["n"] == len(TOY)
    assert "other" not in report["accuracy_by_script"]
    assert report["n_test"] == len(TOY)
    assert report["folds"] == 3
    assert len(report["fold_accuracy"]) == 3
    assert 0.0 <= report["accuracy"] <= 1.0


def test_cross_validate_needs_two_folds() -> None:
    """k below 2 is refused."""
    with pytest.raises(ValueError, match="k >= 2"):
        cross_validate(TOY, 1)


def test_cross_validate_keeps_normalised_twins_in_one_fold(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A traditional/simplified or full-width twin is never in training while its twin is tested."""
    import bot.nlu.evaluate as evaluate_module

    seen: list[np.ndarray] = []
    original = evaluate_module.assign_folds

    def spy(gold: np.ndarray, k: int, seed: int, groups: list[str] | None = None) -> np.ndarray:
        folds = original(gold, k, seed, groups)
        seen.append(folds)
        return folds

    monkeypatch.setattr(evaluate_module, "assign_folds", spy)
    twins = [*TOY, ("養老金", "pension"), ("宅基地證", "homestead"), ("ＨＥＬＬＯ", "greet")]
    twins += [("hello", "greet")]
    report = cross_validate(twins, 3, clock=ticking_clock())
    assert report["n_test"] == len(twins)
    (folds,) = seen
    texts = [text for text, _ in twins]
    for a, b in [("養老金", "养老金"), ("宅基地證", "宅基地证"), ("ＨＥＬＬＯ", "hello")]:
        assert folds[texts.index(a)] == folds[texts.index(b)]


def test_accuracy_by_script_splits_han_from_other() -> None:
    """Messages with a Han character (any extension) are one group, the rest the other."""
    outcome = Outcome(
        gold=["a", "a", "b", "b", "b"],
        predicted=["a", "b", "b", None, "b"],
        confidence=[0.9] * 5,
        latency=[0.001] * 5,
    )
    texts = ["养老金", "pension 养老", "hello", "?!", "\U00020000x"]
    assert accuracy_by_script(texts, outcome) == {
        "han": {"n": 3, "accuracy": 2 / 3},
        "other": {"n": 2, "accuracy": 0.5},
    }
    assert accuracy_by_script([], Outcome()) == {}
