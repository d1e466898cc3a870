"""Training data in Rasa 3 NLU YAML: reading, writing, and the project's data files.

The project keeps one file per intent group in ``intents/nlu/*.yml``::

    version: "3.1"
    nlu:
    - intent: social_minimum_living
      examples: |
        - 怎么申请低保
        - 我家[张三](person)想办低保

Entity annotations (``[text](entity)``, ``[text]{"entity": …}``) are reduced to their text: the
classifier learns intents only. Other Rasa items (synonyms, regexes, lookups) are ignored.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import yaml

from bot.nlu.exceptions import TrainingDataError
from intents import DATA_DIR
from intents.yamlio import load_yaml

Example = tuple[str, str]
"""One training example: (text, intent)."""

NLU_DATA_DIR = DATA_DIR / "nlu"
RASA_YAML_VERSION = "3.1"

# [text](entity), [text](entity:value), [text]{"entity": …}, [text][{…}, {…}]
_ENTITY_MARKUP = re.compile(r"\[([^\[\]]+)\](?:\([^()]*\)|\{[^{}]*\}|\[[^\[\]]*\])")
_LIST_ITEM = re.compile(r"^\s*-\s?(.*)$")
_PLAIN_SCALAR = re.compile(r"[A-Za-z_][A-Za-z0-9_./-]*")


def project_data_files(directory: Path = NLU_DATA_DIR) -> list[Path]:
    """The project's NLU files (``intents/nlu/*.yml``), sorted by name; empty when none exist."""
    return sorted(directory.glob("*.yml")) if directory.is_dir() else []


def load_training_data(paths: Iterable[Path | str]) -> list[Example]:
    """Read (text, intent) examples from Rasa 3 NLU YAML files, in file order.

    Args:
        paths: files to read; every one must exist and be Rasa NLU YAML.

    Returns:
        The examples of all files, entity markup reduced to its text, blank lines dropped.

    Raises:
        TrainingDataError: a file is missing, not YAML, or not shaped like Rasa NLU data.
    """
    examples: list[Example] = []
    for path in map(Path, paths):
        try:
            document = load_yaml(path, encoding="utf-8-sig")
        except OSError as exc:
            raise TrainingDataError(f"{path}: cannot read NLU data: {exc.strerror}") from exc
        except UnicodeDecodeError as exc:
            raise TrainingDataError(f"{path}: NLU data must be UTF-8 ({exc.reason})") from exc
        except yaml.YAMLError as exc:
            raise TrainingDataError(f"{path}: not valid YAML{_yaml_position(exc)}") from exc
        examples.extend(_examples_of(document, path))
    return examples


def strip_entity_markup(text: str) -> str:
    """Reduce Rasa entity annotations to their text: ``[张三](person)来办`` → ``张三来办``."""
    return _ENTITY_MARKUP.sub(r"\1", text)


def format_rasa_yaml(examples: Iterable[Example]) -> str:
    """Render examples as Rasa 3 NLU YAML, intents in order of first appearance.

    Line breaks inside a text become spaces: each example is one line of a block scalar.
    """
    grouped: dict[str, list[str]] = {}
    for text, intent in examples:
        line = " ".join(text.split())
        if line:
            grouped.setdefault(intent, []).append(line)
    lines = [f'version: "{RASA_YAML_VERSION}"', "nlu:"]
    for intent, texts in grouped.items():
        lines.append(f"- intent: {_yaml_scalar(intent)}")
        lines.append("  examples: |")
        lines.extend(f"    - {text}" for text in texts)
    return "\n".join(lines) + "\n"


def write_rasa_yaml(examples: Iterable[Example], path: Path | str) -> None:
    """Write examples to `path` as Rasa 3 NLU YAML (UTF-8), creating parent directories."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(format_rasa_yaml(examples), encoding="utf-8")


def training_data_hash(examples: Sequence[Example]) -> str:
    """A SHA-256 over the examples in order, stored in model files to tell what they learnt."""
    payload = json.dumps(list(examples), ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()


def _yaml_position(error: yaml.YAMLError) -> str:
    """`` at line N: problem`` for a YAML error that knows where it is, else empty."""
    mark = getattr(error, "problem_mark", None)
    problem = getattr(error, "problem", None)
    return f" at line {mark.line + 1}: {problem}" if mark is not None else ""


def _yaml_scalar(value: str) -> str:
    """`value` as a YAML scalar: plain when YAML reads it back as the same string, else quoted."""
    if _PLAIN_SCALAR.fullmatch(value) and yaml.safe_load(value) == value:
        return value
    return json.dumps(value, ensure_ascii=False)


def _examples_of(document: Any, path: Path) -> list[Example]:
    """The examples of one parsed YAML document; empty files hold none."""
    if document is None:
        return []
    if not isinstance(document, dict) or not isinstance(document.get("nlu", []), list):
        raise TrainingDataError(f"{path}: not Rasa NLU data (no 'nlu' list at the top)")
    examples: list[Example] = []
    for number, item in enumerate(document.get("nlu") or [], start=1):
        if not isinstance(item, dict) or "intent" not in item:
            continue  # synonym, regex and lookup items carry no intent examples
        intent = item["intent"]
        if not isinstance(intent, str) or not intent.strip():
            raise TrainingDataError(f"{path}: item {number} has no intent name")
        examples.extend((text, intent.strip()) for text in _texts_of(item.get("examples"), path))
    return examples


def _texts_of(block: Any, path: Path) -> list[str]:
    """Example texts of a Rasa ``examples`` value: a ``- text`` block or a list of texts."""
    if block is None:
        return []
    if isinstance(block, str):
        raw = [match.group(1) for line in block.splitlines() if (match := _LIST_ITEM.match(line))]
    elif isinstance(block, list):
        raw = [item.get("text", "") if isinstance(item, dict) else str(item) for item in block]
    else:
        raise TrainingDataError(f"{path}: 'examples' must be a '- text' block or a list")
    texts = (strip_entity_markup(str(text)).strip() for text in raw)
    return [text for text in texts if text]
