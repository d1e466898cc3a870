"""Tests for bot.nlu.model, features and calibration: training, parsing, the model file."""

from __future__ import annotations

import io
import json
from pathlib import Path

import joblib
import numpy as np
import pytest

from bot.nlu import IntentModel, ModelFileError, TrainingDataError, load_model, train
from bot.nlu.calibration import fit_temperature, softmax
from bot.nlu.features import DEFAULT_VIEWS, NGrams, build_featurizer, prepare, usable_views
from bot.nlu.model import FORMAT_MAGIC, assign_folds

TOY = {
    "social_minimum_living": [
        "我想申请低保",
        "低保怎么办理",
        "低保需要什么材料",
        "家里困难想吃低保",
        "低保金什么时候发",
        "低保的条件是什么",
        "帮我妈申请低保",
        "低保审批要多久",
    ],
    "land_homestead": [
        "宅基地怎么审批",
        "我想在宅基地上建房",
        "宅基地证怎么办",
        "农村建房要什么手续",
        "宅基地纠纷找谁",
        "申请宅基地要什么条件",
        "老房子翻建要审批吗",
        "宅基地面积有规定吗",
    ],
    "social_pension": [
        "养老保险怎么交",
        "养老金什么时候领",
        "我要领养老金",
        "城乡居民养老保险参保",
        "养老保险缴费标准",
        "养老金怎么查",
        "六十岁能领养老金吗",
        "养老保险断交了怎么办",
    ],
    "greet": ["你好", "您好", "在吗", "有人吗", "哈喽", "早上好", "你好啊", "喂"],
}
EXAMPLES = [(text, intent) for intent, texts in TOY.items() for text in texts]


@pytest.fixture(scope="module")
def model() -> IntentModel:
    """A model trained on the toy data."""
    return train(EXAMPLES, seed=0)


def test_learns_the_toy_data(model: IntentModel) -> None:
    """Unseen phrasings land on the right intent."""
    assert model.parse("低保去哪里申请")["intent"]["name"] == "social_minimum_living"
    assert model.parse("盖房子要审批吗")["intent"]["name"] == "land_homestead"
    assert model.parse("养老金多少钱")["intent"]["name"] == "social_pension"
    assert model.parse("你好你好")["intent"]["name"] == "greet"


def test_parse_has_rasa_shape(model: IntentModel) -> None:
    """The answer has exactly Rasa's keys and JSON-serialisable values."""
    result = model.parse("我想申請低保")
    assert set(result) == {"text", "intent", "intent_ranking", "entities"}
    assert result["text"] == "我想申請低保"
    assert set(result["intent"]) == {"name", "confidence"}
    assert isinstance(result["intent"]["confidence"], float)
    assert all(set(item) == {"name", "confidence"} for item in result["intent_ranking"])
    assert result["entities"] == []
    assert json.loads(json.dumps(result, ensure_ascii=False)) == result


def test_ranking_sorted_top_ten_and_sums_at_most_one() -> None:
    """The ranking is sorted, holds at most ten intents, starts with the intent, sums to ≤ 1."""
    many = [
        (f"{word}{i}", f"intent_{word}") for word in "甲乙丙丁戊己庚辛壬癸子丑" for i in range(4)
    ]
    result = train(many, seed=0).parse("甲1")
    ranking = result["intent_ranking"]
    confidences = [item["confidence"] for item in ranking]
    assert len(ranking) == 10
    assert confidences == sorted(confidences, reverse=True)
    assert ranking[0] == result["intent"]
    assert sum(confidences) <= 1.0 + 1e-9
    assert all(0.0 <= c <= 1.0 for c in confidences)


def test_homophone_typos_map_to_the_same_intent(model: IntentModel) -> None:
    """滴保 (typed by sound) is read as 低保; 债基地 as 宅基地."""
    assert model.parse("滴保怎么申请")["intent"]["name"] == "social_minimum_living"
    assert model.parse("我要办滴保")["intent"]["name"] == "social_minimum_living"
    assert model.parse("债基地审批")["intent"]["name"] == "land_homestead"


def test_traditional_and_full_width_input(model: IntentModel) -> None:
    """Traditional characters and full-width forms are normalised before classification."""
    assert model.parse("養老金什麼時候領？")["intent"]["name"] == "social_pension"


@pytest.mark.parametrize("text", ["", "   ", "😀😀", "\u200b"])
def test_empty_message_has_no_intent(model: IntentModel, text: str) -> None:
    """A message empty after normalisation gets name None and confidence 0, like Rasa."""
    result = model.parse(text)
    assert result["intent"] == {"name": None, "confidence": 0.0}
    assert result["intent_ranking"] == []


def test_unknown_words_still_answer(model: IntentModel) -> None:
    """A message of nothing the model knows still gets a full, valid ranking."""
    result = model.parse("qwerty")
    assert result["intent"]["name"] in TOY
    assert len(result["intent_ranking"]) == len(TOY)


def test_probabilities_rows_sum_to_one(model: IntentModel) -> None:
    """Batch probabilities have one row per text and each row sums to 1."""
    probabilities = model.probabilities(["低保", "宅基地", ""])
    assert probabilities.shape == (3, len(TOY))
    assert np.allclose(probabilities.sum(axis=1), 1.0)


def test_training_is_deterministic() -> None:
    """Same data and seed give the same confidences."""
    first = train(EXAMPLES, seed=3).parse("低保")["intent"]["confidence"]
    second = train(EXAMPLES, seed=3).parse("低保")["intent"]["confidence"]
    assert first == second


def test_two_intents_work() -> None:
    """With two intents the binary SVM is expanded to two calibrated columns."""
    two = [(text, intent) for text, intent in EXAMPLES if intent in ("greet", "social_pension")]
    result = train(two, seed=0).parse("养老金")
    assert result["intent"]["name"] == "social_pension"
    assert len(result["intent_ranking"]) == 2


def test_rare_intents_with_one_example_train() -> None:
    """Intents with a single example (fewer than the calibration folds) are accepted."""
    data = [*EXAMPLES, ("我要投诉", "complaint")]
    assert "complaint" in train(data, seed=0).intents


@pytest.mark.parametrize(
    "examples",
    [[], [("你好", "greet"), ("在吗", "greet")], [("你好", "greet"), ("😀", "other")]],
)
def test_fewer_than_two_intents_is_refused(examples: list[tuple[str, str]]) -> None:
    """Training needs usable examples of at least two intents."""
    with pytest.raises(TrainingDataError, match="at least two intents"):
        train(examples, seed=0)


ENGLISH = [
    ("i want to apply for dibao", "social_minimum_living"),
    ("we're poor, can we get the minimum living allowance", "social_minimum_living"),
    ("how do i get a permit to build my house", "land_homestead"),
    ("homestead approval for a new house", "land_homestead"),
    ("when is my pension paid", "social_pension"),
    ("my pension didn't arrive", "social_pension"),
    ("hello there", "greet"),
    ("hi", "greet"),
]


@pytest.mark.parametrize(
    ("examples", "text"),
    [
        (EXAMPLES, "我想申请低保和养老金，谢谢"),
        (EXAMPLES + ENGLISH, "My pensions haven't been paid, 低保 too"),
        (EXAMPLES + ENGLISH, "养老金 don't"),
    ],
)
def test_compact_featurisation_equals_scikit_learn(
    examples: list[tuple[str, str]], text: str
) -> None:
    """The parse-time featurisation computes what the fitted scikit-learn union computes."""
    model = train(examples, seed=0)
    documents = [prepare(example, model.glossary) for example, _ in examples]
    union = build_featurizer(usable_views(DEFAULT_VIEWS, documents))
    union.fit(documents)
    expected = union.transform([prepare(text, model.glossary)]).toarray()[0]
    columns, values = model.vocabulary.featurize(prepare(text, model.glossary))
    actual = np.zeros(model.vocabulary.size)
    actual[columns] = values
    assert np.allclose(actual, expected, atol=1e-6)


def test_latin_views_only_where_latin_words_are() -> None:
    """Chinese-only data trains without the Latin views; mixed data keeps them, in order."""
    chinese = train(EXAMPLES, seed=0)
    assert [spec.view for spec in chinese.vocabulary.views] == ["chars", "words", "syllables"]
    mixed = train(EXAMPLES + ENGLISH, seed=0)
    assert [spec.view for spec in mixed.vocabulary.views] == [spec.view for spec in DEFAULT_VIEWS]
    assert mixed.parse("my pension hasn't been paid")["intent"]["name"] == "social_pension"
    assert mixed.parse("养老金什么时候领")["intent"]["name"] == "social_pension"


def test_latin_words_and_pieces() -> None:
    """English words are whole tokens and padded pieces; inflections share their pieces."""
    document = prepare("Neighbour's dog, 邻居 PAID!")
    assert document.latin_words == ("neighbour's", "dog", "paid")
    assert document.latin_pieces == (" neighbour's ", " dog ", " paid ")
    pieces = NGrams("latin_pieces", 3, 5)
    assert set(pieces(prepare("paid"))) & set(pieces(prepare("pay"))) == {" pa"}
    assert {"id ", " paid", "paid "} <= set(pieces(prepare("paid")))
    assert prepare("只有中文").latin_words == ()
    assert NGrams("latin_pieces", 3, 5)(prepare("只有中文")) == []


def test_save_and_load_round_trip(model: IntentModel, tmp_path: Path) -> None:
    """A saved model loads back and parses identically; the header records its provenance."""
    path = tmp_path / "nested" / "model.joblib"
    model.save(path)
    loaded = load_model(path)
    for text in ["滴保怎么申请", "宅基地", "你好"]:
        assert loaded.parse(text) == model.parse(text)
    assert loaded.training_data_hash == model.training_data_hash
    header = json.loads(path.read_bytes().split(b"\n")[1])
    assert header["format_version"] == 2
    assert header["sklearn_version"]
    assert header["training_data_hash"] == model.training_data_hash


def _rewrite_header(path: Path, **changes: object) -> None:
    """Change fields of a model file's JSON header in place."""
    magic, header, payload = path.read_bytes().split(b"\n", 2)
    fields = {**json.loads(header), **changes}
    path.write_bytes(magic + b"\n" + json.dumps(fields).encode() + b"\n" + payload)


def test_other_format_version_is_refused(model: IntentModel, tmp_path: Path) -> None:
    """A file of another format version is refused with a hint to retrain."""
    path = tmp_path / "model.joblib"
    model.save(path)
    _rewrite_header(path, format_version=3)
    with pytest.raises(ModelFileError, match=r"format 3.*reads formats 1, 2.*retrain"):
        load_model(path)


def test_format_1_files_still_load(model: IntentModel, tmp_path: Path) -> None:
    """A file from before the glossary (format 1, no glossary in the payload) loads and parses
    without one."""
    path = tmp_path / "model.joblib"
    model.save(path)
    magic, header, payload = path.read_bytes().split(b"\n", 2)
    arrays = joblib.load(io.BytesIO(payload))
    del arrays["glossary"]
    buffer = io.BytesIO()
    joblib.dump(arrays, buffer)
    fields = {**json.loads(header), "format_version": 1}
    path.write_bytes(magic + b"\n" + json.dumps(fields).encode() + b"\n" + buffer.getvalue())
    loaded = load_model(path)
    assert loaded.glossary.terms == {}
    assert loaded.parse("滴保怎么申请") == model.parse("滴保怎么申请")


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "not a Zhitong NLU model"),
        (b"PK\x03\x04 a zip file", "not a Zhitong NLU model"),
        (FORMAT_MAGIC + b"{not json\n", "damaged model header"),
        (FORMAT_MAGIC + b'{"format_version": 1}\n' + b"garbage", "damaged model file"),
    ],
)
def test_foreign_and_damaged_files_are_refused(
    tmp_path: Path, content: bytes, message: str
) -> None:
    """Anything but an intact model file is a ModelFileError, not an unpickling crash."""
    path = tmp_path / "model.joblib"
    path.write_bytes(content)
    with pytest.raises(ModelFileError, match=message):
        load_model(path)


def test_missing_file_is_refused(tmp_path: Path) -> None:
    """A missing model file is a ModelFileError."""
    with pytest.raises(ModelFileError, match="cannot read"):
        load_model(tmp_path / "absent.joblib")


def test_truncated_file_is_refused(model: IntentModel, tmp_path: Path) -> None:
    """A file cut short (interrupted copy) is reported as damaged."""
    path = tmp_path / "model.joblib"
    model.save(path)
    path.write_bytes(path.read_bytes()[:-500])
    with pytest.raises(ModelFileError, match="damaged"):
        load_model(path)


def test_temperature_recovers_known_scale() -> None:
    """Scores drawn from softmax(z / 2) give back a temperature near 2."""
    rng = np.random.default_rng(0)
    scores = rng.normal(size=(4000, 5)) * 3
    probabilities = softmax(scores, 2.0)
    gold = np.array([rng.choice(5, p=row) for row in probabilities])
    assert fit_temperature(scores, gold) == pytest.approx(2.0, rel=0.15)
    assert fit_temperature(scores[:0], gold[:0]) == 1.0


def test_folds_are_stratified_and_accept_rare_intents() -> None:
    """Every intent is spread over the folds; an intent with one example is in one fold."""
    gold = np.array([0] * 10 + [1] * 10 + [2])
    folds = assign_folds(gold, 5, seed=0)
    assert set(folds[:10]) == set(range(5))
    assert np.bincount(folds[:10]).tolist() == [2, 2, 2, 2, 2]
    assert folds[-1] in range(5)


def test_folds_keep_groups_together() -> None:
    """Examples with the same group key land in one fold; without keys nothing changes."""
    gold = np.array([0] * 12 + [1] * 6)
    groups = [f"text{i // 3}" for i in range(12)] + [f"other{i}" for i in range(6)]
    folds = assign_folds(gold, 4, seed=3, groups=groups)
    for start in range(0, 12, 3):
        assert len(set(folds[start : start + 3])) == 1
    assert set(folds[:12]) == set(range(4))  # four groups dealt round four folds
    assert np.array_equal(assign_folds(gold, 4, seed=3), assign_folds(gold, 4, seed=3, groups=None))
