"""`zhitong nlu …`: train and evaluate the intent classifier, import historical work orders.

The main command adds this group (``main.add_command(nlu)``). Every command ends with a clear
one-line message and a non-zero exit on bad input, never a traceback; `evaluate` prints exactly
one JSON object on stdout.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import click

from bot.nlu import (
    Example,
    NluError,
    load_training_data,
    project_data_files,
    train,
    write_rasa_yaml,
)
from bot.nlu.data import format_rasa_yaml
from bot.nlu.evaluate import cross_validate, evaluate
from bot.nlu.work_orders import AUTO, load_label_map, read_work_orders
from intents.exceptions import IntentsError
from intents.taxonomy import taxonomy

DEFAULT_MODEL_PATH = Path("instance") / "nlu" / "model.joblib"
_FILE = click.Path(exists=True, dir_okay=False, path_type=Path)


def default_model_path(obj: Any) -> Path:
    """Where `nlu train` writes when no --out is given.

    The one place that decides it: the settings in the click context (``nlu_model_path``, or
    the settings' own default under the instance folder) when the main command put them there,
    else ``instance/nlu/model.joblib`` under the current directory.
    """
    if isinstance(obj, dict) and obj.get("nlu_model_path"):
        return Path(obj["nlu_model_path"])
    for attribute in ("effective_nlu_model_path", "nlu_model_path"):
        value = getattr(obj, attribute, None)
        if value:
            return Path(value)
    return DEFAULT_MODEL_PATH


@contextmanager
def clear_errors() -> Iterator[None]:
    """Turn data and model errors into one line on stderr and exit status 1."""
    try:
        yield
    except (NluError, IntentsError) as exc:
        raise click.ClickException(str(exc)) from exc


@click.group()
def nlu() -> None:
    """Train, evaluate and feed the intent classifier."""


@nlu.command("train")
@click.option(
    "--data",
    "data",
    multiple=True,
    type=_FILE,
    help="Rasa NLU YAML (repeatable; default: intents/nlu/*.yml).",
)
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), help="Model file to write.")
@click.option("--seed", default=0, show_default=True, help="Seed for folds and solver.")
@click.pass_context
def train_command(ctx: click.Context, data: tuple[Path, ...], out: Path | None, seed: int) -> None:
    """Train the intent model and write the model file; prints a JSON summary."""
    target = out or default_model_path(ctx.obj)
    with clear_errors():
        examples = _training_examples(data)
        started = time.perf_counter()
        model = train(examples, seed=seed)
        seconds = time.perf_counter() - started
        model.save(target)
    summary = {
        "model": str(target),
        "n_train": model.n_examples,
        "intents": len(model.intents),
        "train_seconds": round(seconds, 2),
        "size_mb": round(target.stat().st_size / 1e6, 2),
        "training_data_hash": model.training_data_hash,
        "glossary_terms": len(model.glossary.terms),
    }
    click.echo(json.dumps(summary, ensure_ascii=False))


@nlu.command("evaluate")
@click.option(
    "--data", type=_FILE, help="Rasa NLU YAML to evaluate on (with --cv: to cross-validate)."
)
@click.option(
    "--train", "train_file", type=_FILE, help="Train on this file instead of intents/nlu/*.yml."
)
@click.option(
    "--cv", type=click.IntRange(min=2), help="K-fold cross-validation instead of a held-out file."
)
@click.option("--seed", default=0, show_default=True, help="Seed for folds and solver.")
def evaluate_command(data: Path | None, train_file: Path | None, cv: int | None, seed: int) -> None:
    """Print one JSON evaluation report: accuracy, macro-F1, confusions, calibration, latency."""
    if cv is not None and train_file is not None:
        raise click.UsageError("--cv cross-validates one data set; leave out --train")
    if cv is None and data is None:
        raise click.UsageError("give --data FILE to evaluate on, or --cv K")
    with clear_errors():
        if cv is not None:
            report = cross_validate(_training_examples((data,) if data else ()), cv, seed=seed)
        else:
            test = _training_examples((data,) if data else ())
            training = _training_examples((train_file,) if train_file else ())
            report = evaluate(training, test, seed=seed)
    click.echo(json.dumps(report, ensure_ascii=False))


@nlu.command("import-csv")
@click.argument("csv_file", type=_FILE)
@click.option("--text-column", required=True, help="Header of the column with the message.")
@click.option("--label-column", required=True, help="Header of the column with the label.")
@click.option(
    "--out",
    type=click.Path(dir_okay=False, path_type=Path),
    help="YAML file to write (default: stdout).",
)
@click.option(
    "--encoding",
    default=AUTO,
    show_default=True,
    help="File encoding: auto, utf-8, gbk, gb18030, …",
)
@click.option(
    "--map",
    "map_file",
    type=_FILE,
    help="YAML (old: code) or CSV (old,code) label map to taxonomy codes.",
)
def import_csv_command(
    csv_file: Path,
    text_column: str,
    label_column: str,
    out: Path | None,
    encoding: str,
    map_file: Path | None,
) -> None:
    """Turn a CSV of historical work orders into Rasa NLU YAML; counts go to stderr."""
    with clear_errors():
        label_map = load_label_map(map_file, taxonomy()) if map_file else None
        result = read_work_orders(
            csv_file, text_column, label_column, encoding=encoding, label_map=label_map
        )
        if not result.examples:
            raise click.ClickException(f"{csv_file}: no usable rows ({result.rows} read)")
        if out:
            write_rasa_yaml(result.examples, out)
        else:
            click.echo(format_rasa_yaml(result.examples), nl=False)
    click.echo(
        f"{csv_file}: {result.rows} rows ({result.encoding}), {len(result.examples)} examples, "
        f"{result.skipped_empty} empty skipped, {result.duplicates} duplicates skipped, "
        f"{sum(result.unmapped.values())} with unmapped labels skipped",
        err=True,
    )
    for label, count in result.per_label.most_common():
        click.echo(f"  {label}: {count}", err=True)
    for label, count in result.unmapped.most_common():
        click.echo(f"  unmapped {label}: {count}", err=True)
    if out:
        click.echo(f"wrote {out}", err=True)


def _training_examples(files: tuple[Path, ...]) -> list[Example]:
    """Examples of the given files, or of the project's intents/nlu/*.yml when none are given."""
    paths = list(files) or project_data_files()
    if not paths:
        raise click.ClickException("no training data: intents/nlu/*.yml is empty; pass --data FILE")
    examples = load_training_data(paths)
    if not examples:
        raise click.ClickException(f"no examples in {', '.join(map(str, paths))}")
    return examples
