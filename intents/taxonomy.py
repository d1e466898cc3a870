"""The fixed intent codes the bot classifies into (`taxonomy.yml`)."""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, ValidationError

from intents import DATA_DIR
from intents.exceptions import TaxonomyError
from intents.yamlio import load_yaml

TAXONOMY_PATH = DATA_DIR / "taxonomy.yml"

IntentKind = Literal["service", "concern", "meta"]


class TaxonomyIntent(BaseModel):
    """One intent code with its names."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    code: str
    zh: str
    en: str


class TaxonomyCategory(BaseModel):
    """A category of intents sharing a kind."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    code: str
    zh: str
    en: str
    kind: IntentKind
    intents: tuple[TaxonomyIntent, ...]


class Taxonomy(BaseModel):
    """The whole taxonomy, with lookups by intent code."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    version: int
    categories: tuple[TaxonomyCategory, ...]

    def category_of(self, intent_code: str) -> TaxonomyCategory:
        """The category an intent belongs to; KeyError for unknown codes."""
        for category in self.categories:
            if any(intent.code == intent_code for intent in category.intents):
                return category
        raise KeyError(intent_code)

    def codes(self, *kinds: IntentKind) -> list[str]:
        """Intent codes in file order, optionally only of the given kinds."""
        return [
            intent.code
            for category in self.categories
            if not kinds or category.kind in kinds
            for intent in category.intents
        ]


def load_taxonomy(path: Path = TAXONOMY_PATH) -> Taxonomy:
    """Read and validate a taxonomy file.

    Raises:
        TaxonomyError: the file is missing, not YAML, or not of the taxonomy's shape.
    """
    try:
        raw = load_yaml(path)
        taxonomy = Taxonomy.model_validate(raw)
    except (OSError, yaml.YAMLError, ValidationError) as exc:
        raise TaxonomyError(f"{path}: {exc}") from exc
    codes = taxonomy.codes()
    duplicates = sorted({code for code in codes if codes.count(code) > 1})
    if duplicates:
        raise TaxonomyError(f"{path}: duplicate intent codes {duplicates}")
    return taxonomy


@cache
def taxonomy() -> Taxonomy:
    """The project's taxonomy, loaded once per process."""
    return load_taxonomy()
