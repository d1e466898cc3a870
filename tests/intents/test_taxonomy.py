"""The taxonomy: fixed intent codes, the same as the shared copy, loaded strictly."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from intents.exceptions import TaxonomyError
from intents.taxonomy import TAXONOMY_PATH, Taxonomy, load_taxonomy, taxonomy

SHARED_TAXONOMY = Path("/work/shared/taxonomy.yml")

SMALL = """\
version: 1
categories:
  - code: land
    zh: 国土
    en: Land
    kind: service
    intents:
      - {code: land_title, zh: 不动产登记, en: Land title}
  - code: dialogue
    zh: 对话
    en: Dialogue
    kind: meta
    intents:
      - {code: greet, zh: 问候, en: Greeting}
"""


@pytest.fixture
def project() -> Taxonomy:
    """The project's taxonomy file."""
    return load_taxonomy()


def write(tmp_path: Path, text: str) -> Path:
    """A taxonomy file with `text`."""
    path = tmp_path / "taxonomy.yml"
    path.write_text(text, encoding="utf-8")
    return path


def outline(categories: list[dict[str, Any]]) -> list[tuple[object, ...]]:
    """Categories with their kind and (code, Chinese name) of each intent."""
    return [
        (c["code"], c["zh"], c["kind"], [(i["code"], i["zh"]) for i in c["intents"]])
        for c in categories
    ]


@pytest.mark.skipif(not SHARED_TAXONOMY.exists(), reason="no shared taxonomy.yml on this machine")
def test_project_taxonomy_equals_shared_copy(project: Taxonomy) -> None:
    """intents/taxonomy.yml has the shared taxonomy's categories, kinds, codes and names."""
    # The shared copy leaves three English names unquoted (Yes, No, a name with a comma), which
    # YAML reads as booleans or splits; the project copy quotes them. English names are compared
    # wherever the shared file gives a plain string.
    shared = yaml.safe_load(SHARED_TAXONOMY.read_text(encoding="utf-8"))
    assert project.version == shared["version"]
    assert outline([c.model_dump() for c in project.categories]) == outline(shared["categories"])
    plain = {
        i["code"]: i["en"]
        for c in shared["categories"]
        for i in c["intents"]
        if set(i) == {"code", "zh", "en"} and isinstance(i["en"], str)
    }
    assert len(plain) == len(project.codes()) - 3
    assert {i.code: i.en for c in project.categories for i in c.intents if i.code in plain} == plain


def test_forty_one_service_and_concern_intents(project: Taxonomy) -> None:
    """23 services and 18 concerns: 41 intents that open cases."""
    assert len(project.codes("service")) == 23
    assert len(project.codes("concern")) == 18
    assert len(project.codes("service", "concern")) == 41


def test_codes_are_unique_identifiers(project: Taxonomy) -> None:
    """Intent codes are unique snake_case identifiers."""
    codes = project.codes()
    assert len(codes) == len(set(codes))
    assert all(
        code.isascii() and code.replace("_", "").isalnum() and code.islower() for code in codes
    )


def test_meta_intents_are_dialogue_acts(project: Taxonomy) -> None:
    """The dialogue acts the bot relies on are meta intents."""
    assert {"greet", "check_status", "request_human", "opt_out", "out_of_scope"} <= set(
        project.codes("meta")
    )
    assert not set(project.codes("meta")) & set(project.codes("service", "concern"))


@pytest.mark.parametrize(
    ("code", "category", "kind"),
    [
        ("land_title", "land", "service"),
        ("infra_streetlight", "urban_rural", "concern"),
        ("check_status", "dialogue", "meta"),
    ],
)
def test_category_of(project: Taxonomy, code: str, category: str, kind: str) -> None:
    """Each intent belongs to one category, which gives its kind."""
    found = project.category_of(code)
    assert (found.code, found.kind) == (category, kind)


def test_category_of_unknown_code(project: Taxonomy) -> None:
    """An unknown intent code is a KeyError."""
    with pytest.raises(KeyError):
        project.category_of("fly_to_the_moon")


def test_codes_keep_file_order(tmp_path: Path) -> None:
    """codes() lists intents in file order, filtered by kind."""
    small = load_taxonomy(write(tmp_path, SMALL))
    assert small.codes() == ["land_title", "greet"]
    assert small.codes("meta") == ["greet"]
    assert small.codes("concern") == []


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("version: [1\n", "taxonomy.yml"),
        ("just a string\n", "valid dictionary"),
        (SMALL.replace("kind: meta", "kind: chat"), "kind"),
        (SMALL.replace("version: 1", "version: one"), "version"),
        (SMALL.replace("en: Land\n", "en: Land\n    colour: red\n"), "colour"),
        (SMALL.replace("code: greet", "code: land_title"), "duplicate intent codes.*land_title"),
    ],
)
def test_malformed_taxonomy_refused(tmp_path: Path, text: str, message: str) -> None:
    """A malformed file raises TaxonomyError saying what is wrong."""
    with pytest.raises(TaxonomyError, match=message):
        load_taxonomy(write(tmp_path, text))


def test_missing_taxonomy_file(tmp_path: Path) -> None:
    """A missing file raises TaxonomyError naming it."""
    with pytest.raises(TaxonomyError, match=r"absent\.yml"):
        load_taxonomy(tmp_path / "absent.yml")


def test_taxonomy_is_loaded_once() -> None:
    """taxonomy() returns the same object each time, equal to the file's content."""
    assert taxonomy() is taxonomy()
    assert taxonomy() == load_taxonomy(TAXONOMY_PATH)
