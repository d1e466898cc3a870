"""The service catalog (`catalog.yml`): what each intent means to the county.

For every service and concern intent of the taxonomy the catalog says how it is handled
(即办件 immediate, 承诺件 promised within N working days, urgent within N hours), at which level
(village, town, county) and by which department, what the resident must bring, what it costs,
the legal basis and the answers to common questions. `zhitong catalog check` validates it.
"""

from __future__ import annotations

import contextlib
from functools import cache
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from intents import DATA_DIR
from intents.exceptions import CatalogError
from intents.taxonomy import Taxonomy, load_taxonomy
from intents.yamlio import load_yaml

CATALOG_PATH = DATA_DIR / "catalog.yml"

Handling = Literal["immediate", "promised", "urgent"]
Level = Literal["village", "town", "county"]
Urgency = Literal["normal", "high", "emergency"]


class Text(BaseModel):
    """A text in Simplified Chinese with its English version."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    zh: str = Field(min_length=1)
    en: str = Field(min_length=1)

    def get(self, language: str) -> str:
        """The text in `language` ("zh" or "en"), Chinese for anything else."""
        return self.en if language == "en" else self.zh


class TimeLimit(BaseModel):
    """How long the handling unit has: working days, or clock hours for urgent matters."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    working_days: int | None = Field(default=None, ge=0, le=60)
    hours: int | None = Field(default=None, ge=1, le=72)

    @model_validator(mode="after")
    def _exactly_one(self) -> TimeLimit:
        if (self.working_days is None) == (self.hours is None):
            raise ValueError("give exactly one of working_days or hours")
        return self


class Faq(BaseModel):
    """A common question about an item with the county's answer."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    topic: Literal["materials", "fees", "time", "where", "eligibility", "process", "other"]
    q: Text
    a: Text


class Department(BaseModel):
    """A county unit that the catalog routes work to."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    code: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    zh: str
    en: str


class CatalogItem(BaseModel):
    """One service (便民代办事项) or concern (民情诉求) the county handles."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    code: str
    category: str
    kind: Literal["service", "concern"]
    zh: str
    en: str
    handling: Handling
    time_limit: TimeLimit
    # For concerns that can become urgent (risk to life or property, outages): the limit in
    # clock hours once the case is marked urgent.
    urgent_hours: int | None = Field(default=None, ge=1, le=24)
    urgency: Urgency = "normal"
    level: Level
    department: str
    materials: tuple[Text, ...] = ()
    fees: Text
    legal_basis: Text | None = None
    summary: Text
    faq: tuple[Faq, ...] = Field(min_length=1)

    @model_validator(mode="after")
    def _limit_matches_handling(self) -> CatalogItem:
        if self.handling == "urgent" and self.time_limit.hours is None:
            raise ValueError("urgent items need time_limit.hours")
        if self.handling != "urgent" and self.time_limit.working_days is None:
            raise ValueError(f"{self.handling} items need time_limit.working_days")
        if self.handling == "immediate" and self.time_limit.working_days != 0:
            raise ValueError("immediate items (即办件) have time_limit.working_days: 0")
        if self.handling == "promised" and not self.time_limit.working_days:
            raise ValueError("promised items (承诺件) need at least one working day")
        return self

    def faq_for(self, topic: str) -> Faq | None:
        """The first FAQ answer on `topic`, if the catalog has one."""
        return next((faq for faq in self.faq if faq.topic == topic), None)


class Catalog(BaseModel):
    """The whole catalog with lookups."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    version: int
    departments: tuple[Department, ...]
    items: tuple[CatalogItem, ...]

    def item(self, code: str) -> CatalogItem:
        """The item for an intent code; KeyError when the catalog has none."""
        for item in self.items:
            if item.code == code:
                return item
        raise KeyError(code)

    def department(self, code: str) -> Department:
        """The department for a code; KeyError when unknown."""
        for department in self.departments:
            if department.code == code:
                return department
        raise KeyError(code)


def load_catalog(path: Path = CATALOG_PATH) -> Catalog:
    """Read a catalog file and check its shape (not yet against the taxonomy).

    Raises:
        CatalogError: missing file, bad YAML, or an item that does not fit the schema.
    """
    try:
        raw = load_yaml(path)
        return Catalog.model_validate(raw)
    except OSError as exc:
        raise CatalogError(f"{path}: cannot read: {exc}") from exc
    except yaml.YAMLError as exc:
        raise CatalogError(f"{path}: not valid YAML: {exc}") from exc
    except ValidationError as exc:
        raise CatalogError(f"{path}: {_describe(exc, raw)}") from exc


def check_catalog(catalog: Catalog, taxonomy: Taxonomy) -> list[str]:
    """Every disagreement between the catalog and the taxonomy, as readable lines.

    An empty list means the catalog is complete and consistent: each service and concern intent
    has exactly one item with the taxonomy's category and kind, no item has an unknown code,
    and every department an item routes to is declared.
    """
    problems: list[str] = []
    wanted = taxonomy.codes("service", "concern")
    seen: dict[str, int] = {}
    department_codes = {department.code for department in catalog.departments}
    for item in catalog.items:
        seen[item.code] = seen.get(item.code, 0) + 1
        if item.code not in wanted:
            problems.append(f"{item.code}: not a service or concern intent of the taxonomy")
            continue
        category = taxonomy.category_of(item.code)
        if item.category != category.code:
            problems.append(
                f"{item.code}: category {item.category!r}, taxonomy says {category.code!r}"
            )
        if item.kind != category.kind:
            problems.append(f"{item.code}: kind {item.kind!r}, taxonomy says {category.kind!r}")
        if item.department not in department_codes:
            problems.append(f"{item.code}: department {item.department!r} is not declared")
        if item.kind == "service" and not item.materials:
            problems.append(f"{item.code}: a service must list its required materials")
    problems += [f"{code}: appears {count} times" for code, count in seen.items() if count > 1]
    problems += [
        f"{code}: taxonomy intent missing from the catalog" for code in wanted if code not in seen
    ]
    declared = [department.code for department in catalog.departments]
    problems += [
        f"department {code}: declared twice" for code in set(declared) if declared.count(code) > 1
    ]
    return problems


@cache
def catalog() -> Catalog:
    """The project's catalog, loaded and checked once per process.

    Raises:
        CatalogError: the catalog is malformed or disagrees with the taxonomy.
    """
    loaded = load_catalog()
    problems = check_catalog(loaded, load_taxonomy())
    if problems:
        raise CatalogError("; ".join(problems))
    return loaded


def _describe(exc: ValidationError, raw: object) -> str:
    """Name the item code next to each schema error, so a county editor can find it."""
    lines = []
    for error in exc.errors():
        location = list(error["loc"])
        label = ".".join(str(part) for part in location)
        if len(location) >= 2 and location[0] == "items" and isinstance(raw, dict):
            with contextlib.suppress(KeyError, IndexError, TypeError):
                label = f"{raw['items'][location[1]]['code']}: " + ".".join(
                    str(p) for p in location[2:]
                )
        lines.append(f"{label}: {error['msg']}")
    return "; ".join(lines)
