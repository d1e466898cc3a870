"""Intent classifier on SMP2017-ECDT task 1: does it learn well from data it was not written for?

Trains on ``train.yml`` and evaluates on ``test.yml`` of ``shared/benchmarks/smp2017`` (31
domains of short Chinese utterances, a stratified 80/20 split; see its README). Target:
macro-F1 ≥ 0.92 (character 1–3-gram TF-IDF with a linear SVM gets 0.903). The hyper-parameters
were chosen by cross-validation on the training split only. Speed, size and memory figures are
measured as in `bench.nlu`. ``ZHITONG_SMP2017_DIR`` points elsewhere if the data is not beside
the repository.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path

from bench import Figure, figure
from bench.nlu import measure_model
from bot.nlu import load_training_data, train
from bot.nlu.evaluate import build_report, predict

DATA_DIR = Path(
    os.environ.get(
        "ZHITONG_SMP2017_DIR",
        Path(__file__).resolve().parents[2] / "shared" / "benchmarks" / "smp2017",
    )
)


def run() -> Iterator[Figure]:
    """Train on the training split, report accuracy and macro-F1 on the test split."""
    train_file, test_file = DATA_DIR / "train.yml", DATA_DIR / "test.yml"
    if not (train_file.exists() and test_file.exists()):
        raise FileNotFoundError(f"SMP2017 data not found in {DATA_DIR} (set ZHITONG_SMP2017_DIR)")
    training, test = load_training_data([train_file]), load_training_data([test_file])
    started = time.perf_counter()
    model = train(training)
    train_seconds = time.perf_counter() - started
    outcome = predict(model, test, clock=time.perf_counter)
    report = build_report(
        outcome, n_train=len(training), train_seconds=train_seconds, taxonomy_=None
    )
    sizes = {"n_train": len(training), "n_test": len(test)}
    yield figure("smp2017.accuracy", report["accuracy"], "ratio", **sizes, reference=0.909)
    yield figure(
        "smp2017.macro_f1", report["macro_f1"], "ratio", **sizes, target=0.92, reference=0.903
    )
    yield figure(
        "smp2017.expected_calibration_error", report["expected_calibration_error"], "ratio", **sizes
    )
    yield from measure_model("smp2017", model, train_seconds, [text for text, _ in test])
