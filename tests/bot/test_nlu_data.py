"""Tests for bot.nlu.data: Rasa 3 NLU YAML in and out."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.nlu.data import (
    format_rasa_yaml,
    load_training_data,
    project_data_files,
    strip_entity_markup,
    training_data_hash,
    write_rasa_yaml,
)
from bot.nlu.exceptions import TrainingDataError

RASA_FILE = """\
version: "3.1"
nlu:
- intent: social_minimum_living
  examples: |
    - 怎么申请低保
    - 我家[张三](person)想办低保
    - [幺三八零零幺三八零零零]{"entity": "phone"}的低保

- synonym: 低保
  examples: |
    - 最低生活保障
- regex: phone
  examples: |
    - 1[3-9]\\d{9}
- intent: greet
  examples: |
    - 你好
    -
    - 在吗
"""


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("我家[张三](person)想办低保", "我家张三想办低保"),
        ('[清溪县]{"entity": "area", "value": "qingxi"}的路', "清溪县的路"),
        ('[张三][{"entity": "person"}, {"entity": "name"}]来了', "张三来了"),
        ("[张三](person:张三丰)", "张三"),
        ("没有标注 [方括号] 的文字", "没有标注 [方括号] 的文字"),
    ],
)
def test_strip_entity_markup(raw: str, expected: str) -> None:
    """Every Rasa entity annotation form is reduced to its text; plain brackets stay."""
    assert strip_entity_markup(raw) == expected


def test_load_reads_intents_and_skips_other_items(tmp_path: Path) -> None:
    """Intent examples are read in order; synonyms, regexes and blank lines are ignored."""
    path = tmp_path / "a.yml"
    path.write_text(RASA_FILE, encoding="utf-8")
    assert load_training_data([path]) == [
        ("怎么申请低保", "social_minimum_living"),
        ("我家张三想办低保", "social_minimum_living"),
        ("幺三八零零幺三八零零零的低保", "social_minimum_living"),
        ("你好", "greet"),
        ("在吗", "greet"),
    ]


def test_load_reads_several_files_and_list_examples(tmp_path: Path) -> None:
    """Files are concatenated; `examples` may also be a list of texts or {text: …} items."""
    first = tmp_path / "a.yml"
    first.write_text('nlu:\n- intent: a\n  examples: ["一", {text: "二"}]\n', encoding="utf-8")
    second = tmp_path / "b.yml"
    second.write_text("nlu:\n- intent: b\n  examples: |\n    - 三\n", encoding="utf-8")
    assert load_training_data([first, second]) == [("一", "a"), ("二", "a"), ("三", "b")]


def test_empty_file_holds_no_examples(tmp_path: Path) -> None:
    """A file being written (still empty) gives no examples rather than an error."""
    path = tmp_path / "empty.yml"
    path.write_text("", encoding="utf-8")
    assert load_training_data([path]) == []


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("nlu: [\n", "not valid YAML at line"),
        ("- just a list\n", "not Rasa NLU data"),
        ("nlu:\n- intent: ''\n  examples: |\n    - x\n", "has no intent name"),
        ("nlu:\n- intent: a\n  examples: 3\n", "'examples' must be"),
    ],
)
def test_malformed_files_are_refused(tmp_path: Path, content: str, message: str) -> None:
    """Malformed data is a TrainingDataError naming the file and the problem."""
    path = tmp_path / "bad.yml"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(TrainingDataError, match=message) as caught:
        load_training_data([path])
    assert str(path) in str(caught.value)


def test_missing_and_non_utf8_files_are_refused(tmp_path: Path) -> None:
    """A missing file and a GBK file are clear errors."""
    with pytest.raises(TrainingDataError, match="cannot read"):
        load_training_data([tmp_path / "missing.yml"])
    gbk = tmp_path / "gbk.yml"
    gbk.write_bytes("nlu:\n- intent: a\n  examples: |\n    - 低保\n".encode("gbk"))
    with pytest.raises(TrainingDataError, match="UTF-8"):
        load_training_data([gbk])


def test_write_and_read_round_trip(tmp_path: Path) -> None:
    """Written YAML reads back to the same examples; line breaks in a text become spaces."""
    examples = [
        ("低保怎么办", "social_minimum_living"),
        ("第一行\n第二行", "no"),
        ("- 横杠开头", "yes"),
    ]
    path = tmp_path / "out" / "data.yml"
    write_rasa_yaml(examples, path)
    assert load_training_data([path]) == [
        ("低保怎么办", "social_minimum_living"),
        ("第一行 第二行", "no"),
        ("- 横杠开头", "yes"),
    ]


def test_format_quotes_names_yaml_would_misread() -> None:
    """Intent names that YAML reads as booleans are quoted; ordinary codes stay plain."""
    text = format_rasa_yaml([("好", "yes"), ("坏", "land_title")])
    assert '- intent: "yes"' in text
    assert "- intent: land_title" in text


def test_hash_depends_on_content_and_order() -> None:
    """The training data hash changes when examples or their order change."""
    examples = [("一", "a"), ("二", "b")]
    assert training_data_hash(examples) == training_data_hash(list(examples))
    assert training_data_hash(examples) != training_data_hash(examples[::-1])


def test_project_data_files_sorted_and_tolerates_missing_directory(tmp_path: Path) -> None:
    """Project files are found sorted by name; a missing directory gives none."""
    (tmp_path / "b.yml").write_text("", encoding="utf-8")
    (tmp_path / "a.yml").write_text("", encoding="utf-8")
    (tmp_path / "notes.txt").write_text("", encoding="utf-8")
    assert [p.name for p in project_data_files(tmp_path)] == ["a.yml", "b.yml"]
    assert project_data_files(tmp_path / "absent") == []
