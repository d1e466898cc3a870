"""Tests for bot.nlu.gloss: the English glossary, pinyin words, and what they do to a model."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from bot.nlu import TrainingDataError, load_model, train
from bot.nlu.features import prepare
from bot.nlu.gloss import EMPTY_GLOSSARY, GLOSSARY_PATH, Glossary, load_glossary, split_pinyin
from bot.nlu.model import TrainingSettings

GLOSSARY = Glossary.from_mapping(
    {
        "low income": "低保",
        "income": "收入",
        "domestic violence": "家暴 家庭暴力",
        "break in": "入室 盗窃",
        "pension": ["养老金"],
    }
)

# Chinese examples only: an English message can be understood only through the glossary.
CHINESE = [
    *((text, "social_minimum_living") for text in ["我想申请低保", "低保怎么办", "低保要什么材料"]),
    *((text, "dispute_family") for text in ["家暴怎么办", "丈夫家暴我", "遭受家庭暴力求助"]),
    *((text, "social_pension") for text in ["养老金什么时候发", "我要领养老金", "养老金怎么查"]),
]


def test_longest_phrase_wins_left_to_right() -> None:
    """Phrases beat their words; uncovered words are returned in order."""
    glossed, unknown = GLOSSARY.gloss(("my", "low", "income", "and", "income", "tax"))
    assert glossed == ("低保", "收入")
    assert unknown == ("my", "and", "tax")


def test_hyphenated_words_are_separate_words() -> None:
    """break-in is matched by the phrase ``break in``; keys may be written with hyphens."""
    assert GLOSSARY.gloss(("another", "break-in"))[0] == ("入室", "盗窃")
    hyphenated = Glossary.from_mapping({"break-in": "入室"})
    assert hyphenated.gloss(("break", "in"))[0] == ("入室",)


@pytest.mark.parametrize(
    ("mapping", "message"),
    [
        ({"Pension": "养老金"}, "lower-case Latin words"),
        ({"养老金": "养老金"}, "lower-case Latin words"),
        ({"one two three four five": "五"}, "at most 4 words"),
        ({"pension": "pension"}, "Chinese words"),
        ({"pension": ""}, "Chinese words"),
        ({"pension": 3}, "Chinese words"),
        ({"pension": ["养老金", 3]}, "Chinese words"),
        ({"break in": "入室", "break-in": "入室"}, "'break in' is listed twice"),
    ],
)
def test_malformed_entries_are_refused(mapping: dict[str, object], message: str) -> None:
    """A bad key or value is a TrainingDataError naming the entry."""
    with pytest.raises(TrainingDataError, match=message):
        Glossary.from_mapping(mapping)  # type: ignore[arg-type]


def test_glossary_files(tmp_path: Path) -> None:
    """A missing file is an empty glossary; a malformed one is refused with its path."""
    assert load_glossary(tmp_path / "missing.yml") is EMPTY_GLOSSARY
    bad = tmp_path / "bad.yml"
    bad.write_text("terms: [a, b]\n", encoding="utf-8")
    with pytest.raises(TrainingDataError, match=r"bad\.yml.*terms"):
        load_glossary(bad)
    broken = tmp_path / "broken.yml"
    broken.write_text("terms: {pension: 养老金\n", encoding="utf-8")
    with pytest.raises(TrainingDataError, match=r"broken\.yml"):
        load_glossary(broken)


def test_project_glossary_is_valid_and_has_no_repeated_keys() -> None:
    """The shipped glossary loads, is substantial, and no key is written twice.

    YAML keeps the last of two equal keys silently, so the raw file is checked too.
    """
    glossary = load_glossary(GLOSSARY_PATH)
    assert len(glossary.terms) >= 500
    text = GLOSSARY_PATH.read_text(encoding="utf-8")
    keys = re.findall(r"^  \"?([a-z][^:\"]*)\"?:", text, re.MULTILINE)
    assert len(keys) == len(set(keys)) == len(glossary.terms)


@pytest.mark.parametrize(
    ("word", "syllables"),
    [
        ("yibao", ("yi", "bao")),
        ("zhaijidi", ("zhai", "ji", "di")),
        ("gongyilin", ("gong", "yi", "lin")),
        ("hukou", ("hu", "kou")),
        ("xian", ()),  # one syllable: never read as pinyin
        ("ticket", ()),
        ("paid", ()),
        ("yi", ()),
        ("dibao3", ()),
        ("", ()),
    ],
)
def test_split_pinyin(word: str, syllables: tuple[str, ...]) -> None:
    """Two or more syllables covering the whole word, else nothing."""
    assert split_pinyin(word) == syllables


@settings(deadline=None)  # the first example loads jieba's dictionary
@given(st.text(max_size=60))
def test_chinese_only_messages_are_not_changed_by_a_glossary(text: str) -> None:
    """Without Latin-script words a message prepares the same with or without the glossary."""
    plain = prepare(re.sub(r"[A-Za-z]", "", text))
    assume(not plain.latin_words)  # e.g. NFKC turns ⓐ into a
    assert prepare(plain.chars[1:-1], load_glossary(GLOSSARY_PATH)) == plain


def test_glosses_and_pinyin_join_the_chinese_views() -> None:
    """Glosses reach the character, word and syllable views; pinyin words their syllables."""
    document = prepare("Domestic violence again, dibao?", GLOSSARY)
    assert {"家暴", "家庭暴力"} <= set(document.words)
    assert "家暴" in document.chars
    assert {"jia", "bao", "di"} <= set(document.syllables)
    assert "d" not in document.syllables  # letters are left to the Latin views
    assert document.latin_words == ("domestic", "violence", "again", "dibao")


def test_an_english_message_learns_from_chinese_examples(tmp_path: Path) -> None:
    """Trained on Chinese only, the model still reads English through the glossary and keeps
    doing so after a save and load (the glossary travels in the model file)."""
    path = tmp_path / "glossary.yml"
    path.write_text(
        "version: 1\nterms:\n  low income: 低保\n  domestic violence: 家暴\n  pension: 养老金\n",
        encoding="utf-8",
    )
    model = train(CHINESE, seed=0, settings=TrainingSettings(glossary_path=path))
    without = train(CHINESE, seed=0, settings=TrainingSettings(glossary_path=None))
    messages = {
        "I suffer domestic violence": "dispute_family",
        "apply for low income support": "social_minimum_living",
        "when is my pension paid": "social_pension",
        "dibao application": "social_minimum_living",  # pinyin, no glossary needed
    }
    for text, intent in messages.items():
        assert model.parse(text)["intent"]["name"] == intent, text
    assert without.parse("dibao application")["intent"]["name"] == "social_minimum_living"
    assert sum(
        without.parse(text)["intent"]["name"] == intent for text, intent in messages.items()
    ) < len(messages)
    model.save(tmp_path / "model.joblib")
    loaded = load_model(tmp_path / "model.joblib")
    assert loaded.glossary.terms == model.glossary.terms
    for text in messages:
        assert loaded.parse(text) == model.parse(text)
