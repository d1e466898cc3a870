"""The service catalog: schema, agreement with the taxonomy, and the real catalog file."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml

from intents.catalog import Catalog, CatalogItem, Text, catalog, check_catalog, load_catalog
from intents.exceptions import CatalogError
from intents.taxonomy import Taxonomy, load_taxonomy

TAXONOMY: dict[str, Any] = {
    "version": 1,
    "categories": [
        {
            "code": "land",
            "zh": "国土",
            "en": "Land",
            "kind": "service",
            "intents": [{"code": "land_title", "zh": "不动产登记", "en": "Land title"}],
        },
        {
            "code": "urban_rural",
            "zh": "城乡管理",
            "en": "Streets",
            "kind": "concern",
            "intents": [{"code": "infra_streetlight", "zh": "路灯不亮", "en": "Street lights"}],
        },
        {
            "code": "dialogue",
            "zh": "对话",
            "en": "Dialogue",
            "kind": "meta",
            "intents": [{"code": "greet", "zh": "问候", "en": "Greeting"}],
        },
    ],
}


def text(zh: str = "文字", en: str = "text") -> dict[str, str]:
    """A bilingual text."""
    return {"zh": zh, "en": en}


def item(code: str, category: str, kind: str, **values: Any) -> dict[str, Any]:
    """A catalog item that fits the schema."""
    data: dict[str, Any] = {
        "code": code,
        "category": category,
        "kind": kind,
        "zh": "事项",
        "en": "Item",
        "handling": "promised",
        "time_limit": {"working_days": 5},
        "level": "county",
        "department": "natural_resources",
        "materials": [text("身份证", "ID card")] if kind == "service" else [],
        "fees": text("免费", "Free"),
        "summary": text(),
        "faq": [
            {
                "topic": "time",
                "q": text("多久？", "How long?"),
                "a": text("5个工作日", "5 working days"),
            }
        ],
    }
    data.update(values)
    return data


CATALOG: dict[str, Any] = {
    "version": 1,
    "departments": [
        {"code": "natural_resources", "zh": "县自然资源局", "en": "Natural Resources"},
        {"code": "urban_management", "zh": "县城管局", "en": "Urban Management"},
    ],
    "items": [
        item("land_title", "land", "service"),
        item(
            "infra_streetlight",
            "urban_rural",
            "concern",
            level="town",
            department="urban_management",
            urgent_hours=4,
        ),
    ],
}


@pytest.fixture
def small_taxonomy() -> Taxonomy:
    """A taxonomy of one service, one concern and one dialogue act."""
    return Taxonomy.model_validate(TAXONOMY)


@pytest.fixture
def raw() -> dict[str, Any]:
    """A catalog document for the small taxonomy, free to change."""
    return copy.deepcopy(CATALOG)


def problems(raw: dict[str, Any], taxonomy: Taxonomy) -> list[str]:
    """check_catalog's findings for a catalog document."""
    return check_catalog(Catalog.model_validate(raw), taxonomy)


def write(tmp_path: Path, document: object) -> Path:
    """A catalog file holding `document`."""
    path = tmp_path / "catalog.yml"
    path.write_text(yaml.safe_dump(document, allow_unicode=True), encoding="utf-8")
    return path


def test_consistent_catalog_has_no_problems(raw: dict[str, Any], small_taxonomy: Taxonomy) -> None:
    """A catalog with one item per service and concern intent passes."""
    assert problems(raw, small_taxonomy) == []


def test_unknown_code_reported(raw: dict[str, Any], small_taxonomy: Taxonomy) -> None:
    """An item whose code is not in the taxonomy is reported."""
    raw["items"].append(item("land_lottery", "land", "service"))
    assert problems(raw, small_taxonomy) == [
        "land_lottery: not a service or concern intent of the taxonomy"
    ]


def test_meta_intent_is_not_a_catalog_item(raw: dict[str, Any], small_taxonomy: Taxonomy) -> None:
    """A dialogue act cannot be a catalog item."""
    raw["items"].append(item("greet", "dialogue", "concern"))
    assert problems(raw, small_taxonomy) == [
        "greet: not a service or concern intent of the taxonomy"
    ]


def test_missing_taxonomy_intent_reported(raw: dict[str, Any], small_taxonomy: Taxonomy) -> None:
    """A service or concern intent without an item is reported."""
    del raw["items"][1]
    assert problems(raw, small_taxonomy) == [
        "infra_streetlight: taxonomy intent missing from the catalog"
    ]


def test_wrong_category_reported(raw: dict[str, Any], small_taxonomy: Taxonomy) -> None:
    """An item filed under another category than the taxonomy's is reported."""
    raw["items"][0]["category"] = "urban_rural"
    assert problems(raw, small_taxonomy) == [
        "land_title: category 'urban_rural', taxonomy says 'land'"
    ]


def test_wrong_kind_reported(raw: dict[str, Any], small_taxonomy: Taxonomy) -> None:
    """A concern intent catalogued as a service is reported."""
    raw["items"][1]["kind"] = "service"
    raw["items"][1]["materials"] = [text()]
    assert problems(raw, small_taxonomy) == [
        "infra_streetlight: kind 'service', taxonomy says 'concern'"
    ]


def test_undeclared_department_reported(raw: dict[str, Any], small_taxonomy: Taxonomy) -> None:
    """An item routed to a department the catalog does not declare is reported."""
    raw["items"][0]["department"] = "space_agency"
    assert problems(raw, small_taxonomy) == [
        "land_title: department 'space_agency' is not declared"
    ]


def test_duplicate_item_reported(raw: dict[str, Any], small_taxonomy: Taxonomy) -> None:
    """An intent catalogued twice is reported once, with the count."""
    raw["items"].append(copy.deepcopy(raw["items"][0]))
    assert problems(raw, small_taxonomy) == ["land_title: appears 2 times"]


def test_duplicate_department_reported(raw: dict[str, Any], small_taxonomy: Taxonomy) -> None:
    """A department declared twice is reported."""
    raw["departments"].append(copy.deepcopy(raw["departments"][0]))
    assert problems(raw, small_taxonomy) == ["department natural_resources: declared twice"]


def test_service_without_materials_reported(raw: dict[str, Any], small_taxonomy: Taxonomy) -> None:
    """A service must say what the resident brings."""
    raw["items"][0]["materials"] = []
    assert problems(raw, small_taxonomy) == [
        "land_title: a service must list its required materials"
    ]


def test_several_problems_all_reported(raw: dict[str, Any], small_taxonomy: Taxonomy) -> None:
    """Every problem is listed, not only the first."""
    raw["items"][0]["department"] = "space_agency"
    raw["items"][1]["category"] = "land"
    assert len(problems(raw, small_taxonomy)) == 2


def test_load_catalog_reads_a_file(tmp_path: Path, raw: dict[str, Any]) -> None:
    """A well-formed file loads into a Catalog with lookups."""
    loaded = load_catalog(write(tmp_path, raw))
    assert loaded.item("infra_streetlight").urgent_hours == 4
    assert loaded.department("urban_management").zh == "县城管局"
    with pytest.raises(KeyError):
        loaded.item("greet")
    with pytest.raises(KeyError):
        loaded.department("space_agency")


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"handling": "immediate"}, "immediate items"),
        ({"handling": "promised", "time_limit": {"working_days": 0}}, "at least one working day"),
        ({"handling": "urgent"}, "urgent items need time_limit.hours"),
        ({"time_limit": {"working_days": 5, "hours": 4}}, "exactly one"),
        ({"time_limit": {"working_days": 61}}, "time_limit.working_days"),
        ({"urgent_hours": 25}, "urgent_hours"),
        ({"level": "province"}, "level"),
        ({"kind": "meta"}, "kind"),
        ({"fees": {"zh": "", "en": "Free"}}, "fees.zh"),
        ({"faq": []}, "faq"),
        ({"faq": [{"topic": "gossip", "q": text(), "a": text()}]}, "faq.0.topic"),
        ({"colour": "red"}, "colour"),
    ],
)
def test_schema_error_names_the_item(
    tmp_path: Path, raw: dict[str, Any], change: dict[str, Any], message: str
) -> None:
    """A schema error says which item (by code) and which field is wrong."""
    raw["items"][1].update(change)
    with pytest.raises(CatalogError, match="infra_streetlight") as raised:
        load_catalog(write(tmp_path, raw))
    assert message in str(raised.value)
    assert "land_title" not in str(raised.value)


def test_missing_field_names_the_item(tmp_path: Path, raw: dict[str, Any]) -> None:
    """A required field left out is reported with the item's code and the field."""
    del raw["items"][0]["department"]
    with pytest.raises(CatalogError, match=r"land_title: department: Field required"):
        load_catalog(write(tmp_path, raw))


def test_top_level_error_is_named(tmp_path: Path, raw: dict[str, Any]) -> None:
    """An error outside the items names its place."""
    raw["departments"][0]["code"] = "Natural Resources"
    with pytest.raises(CatalogError, match=r"departments\.0\.code"):
        load_catalog(write(tmp_path, raw))


@pytest.mark.parametrize(
    ("content", "message"),
    [("items: [unclosed\n", "not valid YAML"), ("- 1\n- 2\n", "valid dictionary")],
)
def test_unreadable_catalog(tmp_path: Path, content: str, message: str) -> None:
    """Bad YAML or a document of the wrong shape is a CatalogError."""
    path = tmp_path / "catalog.yml"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(CatalogError, match=message):
        load_catalog(path)


def test_missing_catalog_file(tmp_path: Path) -> None:
    """A missing file is a CatalogError naming it."""
    with pytest.raises(CatalogError, match=r"absent\.yml: cannot read"):
        load_catalog(tmp_path / "absent.yml")


@pytest.mark.parametrize(("language", "expected"), [("zh", "免费"), ("en", "Free"), ("fr", "免费")])
def test_text_in_language(language: str, expected: str) -> None:
    """Texts are given in Chinese or English; Chinese for any other language."""
    assert Text(zh="免费", en="Free").get(language) == expected


def test_faq_for_topic() -> None:
    """The first FAQ answer on a topic, or None."""
    loaded = CatalogItem.model_validate(item("land_title", "land", "service"))
    answer = loaded.faq_for("time")
    assert answer is not None and answer.a.zh == "5个工作日"
    assert loaded.faq_for("fees") is None


@pytest.fixture(scope="module")
def real() -> Catalog:
    """The project's catalog file."""
    return load_catalog()


def test_real_catalog_passes_the_check(real: Catalog) -> None:
    """intents/catalog.yml agrees with the taxonomy: no problems at all."""
    assert check_catalog(real, load_taxonomy()) == []


def test_real_catalog_has_all_41_intents(real: Catalog) -> None:
    """Every service and concern intent of the taxonomy has exactly one item."""
    codes = [entry.code for entry in real.items]
    assert len(codes) == 41
    assert sorted(codes) == sorted(load_taxonomy().codes("service", "concern"))


def test_real_catalog_faq_answers_fit_two_sms(real: Catalog) -> None:
    """Chinese FAQ answers are at most 120 characters, as the file's header promises."""
    too_long = [
        (entry.code, faq.topic) for entry in real.items for faq in entry.faq if len(faq.a.zh) > 120
    ]
    assert too_long == []


def test_real_catalog_urgent_hours_only_on_concerns(real: Catalog) -> None:
    """Only concerns can be marked urgent."""
    assert [
        entry.code for entry in real.items if entry.urgent_hours and entry.kind != "concern"
    ] == []


def test_catalog_is_loaded_once() -> None:
    """catalog() checks the file once and returns the same object after."""
    assert catalog() is catalog()
    assert len(catalog().items) == 41
