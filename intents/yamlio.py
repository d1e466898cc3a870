"""Reading YAML data files fast: libyaml's C parser when PyYAML was built with it.

The catalog and training files are read at start by every process; the pure-Python parser takes
seconds for them, the C one a fraction of that. Both give the same result.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

_SAFE_LOADER: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_BASE_LOADER: Any = getattr(yaml, "CBaseLoader", yaml.BaseLoader)


def load_yaml_text(text: str, *, plain_strings: bool = False) -> Any:
    """Parse YAML text safely.

    Args:
        text: the document.
        plain_strings: keep every scalar as a string (dates, booleans, numbers unconverted),
            so a schema validator can report a bad value with its place.
    """
    return yaml.load(text, Loader=_BASE_LOADER if plain_strings else _SAFE_LOADER)


def load_yaml(path: Path, *, plain_strings: bool = False, encoding: str = "utf-8") -> Any:
    """Read and parse a YAML file (see `load_yaml_text`)."""
    return load_yaml_text(path.read_text(encoding=encoding), plain_strings=plain_strings)
