"""Understanding, loaded once per process: the intent model (or Rasa) and the area gazetteer.

The model is trained by `zhitong nlu train` (or by `ensure_model` when a server starts without
one) and never on a request. The gazetteer is rebuilt from the directory every few minutes so
that a village added in the console is recognised without a restart.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from pathlib import Path
from typing import Any, Protocol

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.gazetteer import AreaGazetteer, AreaRow
from bot.nlu import load_model, load_training_data, project_data_files, train
from bot.nlu.data import training_data_hash
from bot.nlu.exceptions import NluError
from cases.models import Area
from cases.settings import Settings

log = logging.getLogger(__name__)

GAZETTEER_TTL_SECONDS = 300


class Interpreter(Protocol):
    """Anything that answers like Rasa's `/model/parse`."""

    def parse(self, text: str) -> dict[str, Any]:
        """The parse of one message."""
        ...


def ensure_model(path: Path) -> bool:
    """Train the intent model from the project's data if no model file exists; True if trained."""
    if path.exists():
        return False
    started = time.perf_counter()
    model = train(load_training_data(project_data_files()))
    path.parent.mkdir(parents=True, exist_ok=True)
    model.save(path)
    log.info("trained the intent model", extra={"seconds": round(time.perf_counter() - started, 1)})
    return True


def cached_project_model(directory: Path) -> Path:
    """The project's model file in `directory`, trained once per version of the training data.

    Tests and benchmarks share it (the name carries the data's hash, so a change to
    intents/nlu trains a new one); it is written whole and then renamed, so processes starting
    together never read half a file.
    """
    examples = load_training_data(project_data_files())
    path = directory / f"zhitong-nlu-{training_data_hash(examples)[:16]}.joblib"
    if not path.exists():
        partial = path.with_suffix(f".{os.getpid()}.tmp")
        train(examples).save(partial)
        os.replace(partial, path)
    return path


_lock = threading.Lock()
_interpreter: Interpreter | None = None
_gazetteer: tuple[float, AreaGazetteer] | None = None


def interpreter(settings: Settings) -> Interpreter:
    """The process's interpreter: Rasa over HTTP when ZHITONG_RASA_URL is set, else the model.

    Raises:
        NluError: the model file is missing or unreadable (run `zhitong nlu train`).
    """
    global _interpreter
    with _lock:
        if _interpreter is None:
            if settings.rasa_url:
                from worker.rasa import RasaHttpInterpreter

                _interpreter = RasaHttpInterpreter(settings.rasa_url)
            else:
                _interpreter = load_model(settings.effective_nlu_model_path)
        return _interpreter


def use_interpreter(replacement: Interpreter | None) -> None:
    """Swap the process's interpreter (tests)."""
    global _interpreter
    with _lock:
        _interpreter = replacement


def gazetteer(session: Session) -> AreaGazetteer:
    """The county's places for entity extraction, cached for a few minutes."""
    global _gazetteer
    now = time.monotonic()
    with _lock:
        if _gazetteer is not None and now - _gazetteer[0] < GAZETTEER_TTL_SECONDS:
            return _gazetteer[1]
    rows = [
        AreaRow(area.id, area.name, area.level.value, area.parent_id)
        for area in session.scalars(select(Area).order_by(Area.id))
    ]
    built = AreaGazetteer(rows)
    with _lock:
        _gazetteer = (now, built)
    return built


def forget_gazetteer() -> None:
    """Drop the cached gazetteer (after the directory changes, and in tests)."""
    global _gazetteer
    with _lock:
        _gazetteer = None


__all__ = [
    "Interpreter",
    "NluError",
    "ensure_model",
    "forget_gazetteer",
    "gazetteer",
    "interpreter",
]
