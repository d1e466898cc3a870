"""Intent classifier on the project's own data: accuracy, speed, size and memory.

- 5-fold cross-validation on ``intents/nlu/*.yml`` (target: accuracy ≥ 0.93), also split into
  messages with Han characters and the others (English);
- held-out accuracy and taxonomy-category accuracy on ``bench/data/nlu_heldout.yml`` when that
  file exists (messages written apart from the training data, never used to tune anything);
- for a model trained on all the data: training seconds (target < 60 s), parse p99 (< 5 ms) and
  parses per second (≥ 1,000) in one process, model file size (< 50 MB) and the resident memory
  of a process that has loaded it (< 300 MB).

The measuring helpers are shared with `bench.smp2017`.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np

from bench import Figure, figure
from bot.nlu import IntentModel, load_training_data, project_data_files, train
from bot.nlu.evaluate import build_report, cross_validate, predict
from intents.taxonomy import taxonomy

HELDOUT_PATH = Path(__file__).resolve().parent / "data" / "nlu_heldout.yml"
CV_FOLDS = 5
MIN_TIMED_PARSES = 3000

# Run in a fresh interpreter: load the model, parse once, report resident memory in MB.
_RSS_PROBE = """
import resource, sys
from bot.nlu import load_model
load_model(sys.argv[1]).parse("我想申请低保")
try:
    with open("/proc/self/status") as status:
        kb = next(int(line.split()[1]) for line in status if line.startswith("VmRSS:"))
except OSError:
    kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(kb / 1024)
"""


def run() -> Iterator[Figure]:
    """Cross-validate, evaluate on the held-out file if present, then measure a full model."""
    files = project_data_files()
    if not files:
        raise RuntimeError("no project NLU data: intents/nlu/*.yml holds no file")
    examples = load_training_data(files)
    report = cross_validate(examples, CV_FOLDS)
    yield figure(
        "nlu.cv_accuracy",
        report["accuracy"],
        "ratio",
        target=0.93,
        folds=CV_FOLDS,
        n=len(examples),
        macro_f1=round(report["macro_f1"], 4),
        category_accuracy=round(report["category_accuracy"] or 0.0, 4),
        ece=round(report["expected_calibration_error"], 4),
        **{
            f"{script}_accuracy": round(part["accuracy"], 4)
            for script, part in report["accuracy_by_script"].items()
        },
        **{f"{script}_n": part["n"] for script, part in report["accuracy_by_script"].items()},
    )
    started = time.perf_counter()
    model = train(examples)
    train_seconds = time.perf_counter() - started
    if HELDOUT_PATH.exists():
        heldout = load_training_data([HELDOUT_PATH])
        outcome = predict(model, heldout, clock=time.perf_counter)
        held = build_report(
            outcome, n_train=len(examples), train_seconds=train_seconds, taxonomy_=taxonomy()
        )
        yield figure("nlu.heldout_accuracy", held["accuracy"], "ratio", n=len(heldout))
        if held["category_accuracy"] is not None:
            yield figure(
                "nlu.heldout_category_accuracy", held["category_accuracy"], "ratio", n=len(heldout)
            )
        yield figure("nlu.heldout_macro_f1", held["macro_f1"], "ratio", n=len(heldout))
    yield from measure_model("nlu", model, train_seconds, [text for text, _ in examples])


def measure_model(
    prefix: str, model: IntentModel, train_seconds: float, texts: Sequence[str]
) -> Iterator[Figure]:
    """Training time, parse latency and throughput, file size and loaded memory of `model`."""
    yield figure(
        f"{prefix}.train_seconds", train_seconds, "s", n_train=model.n_examples, target="< 60"
    )
    latencies = time_parses(model, texts)
    yield figure(
        f"{prefix}.parse_p99_ms",
        float(np.percentile(latencies, 99)) * 1000,
        "ms",
        parses=len(latencies),
        mean_ms=round(float(np.mean(latencies)) * 1000, 3),
        target="< 5",
    )
    yield figure(
        f"{prefix}.parses_per_second",
        len(latencies) / float(np.sum(latencies)),
        "parses/s",
        process="single",
        target=">= 1000",
    )
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "model.joblib"
        model.save(path)
        yield figure(f"{prefix}.model_file_mb", path.stat().st_size / 1e6, "MB", target="< 50")
        yield figure(
            f"{prefix}.loaded_rss_mb",
            loaded_rss_mb(path),
            "MB",
            note="whole process: Python, numpy, jieba and pypinyin dictionaries, the model",
            target="< 300",
        )


def time_parses(model: IntentModel, texts: Sequence[str]) -> list[float]:
    """Seconds per `parse`, cycling through `texts` for at least MIN_TIMED_PARSES calls."""
    rounds = max(1, -(-MIN_TIMED_PARSES // max(1, len(texts))))
    latencies = []
    for _ in range(rounds):
        for text in texts:
            started = time.perf_counter()
            model.parse(text)
            latencies.append(time.perf_counter() - started)
    return latencies


def loaded_rss_mb(path: Path) -> float:
    """Resident memory (MB) of a fresh Python process after loading the model and parsing once."""
    result = subprocess.run(
        [sys.executable, "-c", _RSS_PROBE, str(path)],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    return float(result.stdout.strip().splitlines()[-1])
