"""Understanding, loaded once per process: the intent model (or Rasa) and the area gazetteer.

The model is trained by `zhitong nlu train` (or by `ensure_model` when a server starts without
one) and never on a request. The gazetteer is rebuilt from the directory every few minutes so
that a village added in the console is recognised without a restart.
"""

from __future__ import annotations

import hashlib
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
from bot.nlu.exceptions import ModelFileError, NluError
from bot.nlu.gloss import GLOSSARY_PATH, load_glossary
from bot.nlu.model import FORMAT_VERSION, read_header
from cases.models import Area
from cases.settings import Settings

log = logging.getLogger(__name__)

GAZETTEER_TTL_SECONDS = 300


class Interpreter(Protocol):
    """Anything that answers like Rasa's `/model/parse`."""

    def parse(self, text: str) -> dict[str, Any]:
        """The parse of one message."""
        ...


def ensure_model(path: Path, *, refresh: bool = False) -> bool:
    """Train the intent model from the project's data if no model file exists; True if trained.

    With `refresh`, also retrain when the file was made from other examples or another glossary
    than the project's, or cannot be read (see `model_is_current`).
    """
    if path.exists() and not (refresh and not model_is_current(path)):
        return False
    started = time.perf_counter()
    model = train(load_training_data(project_data_files()))
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.{os.getpid()}.training")
    model.save(partial)
    os.replace(partial, path)
    log.info("trained the intent model", extra={"seconds": round(time.perf_counter() - started, 1)})
    return True


def model_is_current(path: Path) -> bool:
    """True when the model file at `path` was trained on the project's examples and glossary.

    Reads only the file's header. A missing, unreadable or foreign file is not current.
    """
    try:
        header = read_header(path)
    except ModelFileError:
        return False
    examples = load_training_data(project_data_files())
    return (
        header.get("training_data_hash") == training_data_hash(examples)
        and header.get("glossary_hash") == load_glossary(GLOSSARY_PATH).fingerprint
    )


def cached_project_model(directory: Path) -> Path:
    """The project's model file in `directory`, trained once per version of the training data.

    Tests and benchmarks share it. The name carries a hash of what the model is made from (the
    examples, the glossary file and the model file format), so a change to any of them trains a
    new one. It is written whole and then renamed, so processes starting together never read
    half a file.
    """
    examples = load_training_data(project_data_files())
    recipe = hashlib.sha256(training_data_hash(examples).encode())
    recipe.update(f"format {FORMAT_VERSION}\n".encode())
    if GLOSSARY_PATH.is_file():
        recipe.update(GLOSSARY_PATH.read_bytes())
    path = directory / f"zhitong-nlu-{recipe.hexdigest()[:16]}.joblib"
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
