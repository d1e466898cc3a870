"""Tests for webhooks.cli_nlu: `zhitong nlu train | evaluate | import-csv`."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import pytest
from click.testing import CliRunner

from bot.nlu import load_model, load_training_data, write_rasa_yaml
from webhooks import cli_nlu
from webhooks.cli_nlu import DEFAULT_MODEL_PATH, default_model_path, nlu

TRAIN = [
    *(
        (text, "social_pension")
        for text in ["养老金", "养老保险", "领养老金", "交养老保险", "养老金多少"]
    ),
    *(
        (text, "land_homestead")
        for text in ["宅基地", "建房审批", "宅基地证", "盖房子", "宅基地纠纷"]
    ),
    *((text, "greet") for text in ["你好", "您好", "在吗", "有人吗", "早上好"]),
]
TEST = [("养老金怎么领", "social_pension"), ("你好呀", "greet"), ("宅基地审批", "land_homestead")]
WORK_ORDERS = [
    ("工单号", "来电内容", "问题分类"),
    ("1", "我想问下养老金什么时候发", "社保"),
    ("2", "", "社保"),
    ("3", "村口的路灯坏了", "路灯"),
    ("4", "我想问下养老金什么时候发", "社保"),
    ("5", "路上有个大坑", ""),
    ("6", "家里老房子想翻建", "建房"),
]


@pytest.fixture
def runner() -> CliRunner:
    """A click test runner."""
    return CliRunner()


@pytest.fixture
def data_files(tmp_path: Path) -> tuple[Path, Path]:
    """Training and test files in Rasa YAML."""
    train_file, test_file = tmp_path / "train.yml", tmp_path / "test.yml"
    write_rasa_yaml(TRAIN, train_file)
    write_rasa_yaml(TEST, test_file)
    return train_file, test_file


def write_csv(path: Path, encoding: str, rows: list[tuple[str, ...]] = WORK_ORDERS) -> Path:
    """Write rows as a comma-separated file in `encoding`."""
    path.write_bytes("\r\n".join(",".join(row) for row in rows).encode(encoding))
    return path


def test_train_writes_a_loadable_model(
    runner: CliRunner, data_files: tuple[Path, Path], tmp_path: Path
) -> None:
    """`nlu train --data F --out M` writes a model and prints a JSON summary."""
    out = tmp_path / "models" / "model.joblib"
    result = runner.invoke(nlu, ["train", "--data", str(data_files[0]), "--out", str(out)])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["model"] == str(out)
    assert summary["n_train"] == len(TRAIN)
    assert summary["intents"] == 3
    assert summary["glossary_terms"] >= 500  # the project's glossary, carried in the file
    assert load_model(out).parse("养老金")["intent"]["name"] == "social_pension"


def test_train_defaults_to_the_path_in_the_context(
    runner: CliRunner, data_files: tuple[Path, Path], tmp_path: Path
) -> None:
    """Without --out, the model goes to the settings' nlu_model_path from the click context."""
    target = tmp_path / "from-settings.joblib"
    result = runner.invoke(
        nlu, ["train", "--data", str(data_files[0])], obj={"nlu_model_path": str(target)}
    )
    assert result.exit_code == 0, result.output
    assert target.exists()


def test_default_model_path() -> None:
    """Settings objects, dicts and nothing at all each give the expected default."""
    assert default_model_path(None) == DEFAULT_MODEL_PATH == Path("instance/nlu/model.joblib")
    assert default_model_path({"nlu_model_path": "/m.joblib"}) == Path("/m.joblib")
    settings = SimpleNamespace(
        nlu_model_path=None, effective_nlu_model_path=Path("/i/nlu/model.joblib")
    )
    assert default_model_path(settings) == Path("/i/nlu/model.joblib")


def test_train_without_project_data_is_a_clear_error(
    runner: CliRunner, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With no --data and no intents/nlu/*.yml, the command says so and exits non-zero."""
    monkeypatch.setattr(cli_nlu, "project_data_files", list)
    result = runner.invoke(nlu, ["train"])
    assert result.exit_code == 1
    assert "no training data" in result.stderr
    assert "Traceback" not in result.output


def test_evaluate_prints_one_json_object(runner: CliRunner, data_files: tuple[Path, Path]) -> None:
    """`nlu evaluate --data T --train F` prints exactly one JSON report on stdout."""
    train_file, test_file = data_files
    result = runner.invoke(nlu, ["evaluate", "--data", str(test_file), "--train", str(train_file)])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["n_test"] == len(TEST)
    assert report["n_train"] == len(TRAIN)
    assert report["category_accuracy"] == 1.0 or report["accuracy"] < 1.0


def test_evaluate_cross_validation(runner: CliRunner, data_files: tuple[Path, Path]) -> None:
    """`nlu evaluate --data F --cv 3` cross-validates that file."""
    result = runner.invoke(nlu, ["evaluate", "--data", str(data_files[0]), "--cv", "3"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["folds"] == 3
    assert report["n_test"] == len(TRAIN)


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["evaluate"], "give --data FILE"),
        (["evaluate", "--cv", "3", "--train", "{train}"], "leave out --train"),
        (["evaluate", "--cv", "1", "--data", "{train}"], "--cv"),
        (["evaluate", "--data", "{missing}"], "does not exist"),
        (["evaluate", "--data", "{broken}", "--train", "{train}"], "not valid YAML"),
        (["evaluate", "--data", "{empty}", "--train", "{train}"], "no examples"),
        (["train", "--data", "{one_intent}"], "at least two intents"),
    ],
)
def test_bad_input_is_a_clear_error(
    runner: CliRunner,
    data_files: tuple[Path, Path],
    tmp_path: Path,
    arguments: list[str],
    message: str,
) -> None:
    """Bad options and bad files end with one clear message and a non-zero exit, no traceback."""
    broken, empty, one_intent = (
        tmp_path / "broken.yml",
        tmp_path / "empty.yml",
        tmp_path / "one.yml",
    )
    broken.write_text("nlu: [\n", encoding="utf-8")
    empty.write_text("nlu: []\n", encoding="utf-8")
    write_rasa_yaml([("你好", "greet"), ("您好", "greet")], one_intent)
    names = {
        "train": data_files[0],
        "missing": tmp_path / "missing.yml",
        "broken": broken,
        "empty": empty,
        "one_intent": one_intent,
    }
    result = runner.invoke(nlu, [argument.format(**names) for argument in arguments])
    assert result.exit_code != 0
    assert message in result.stderr
    assert "Traceback" not in result.output


@pytest.mark.parametrize("encoding", ["gbk", "utf-8-sig", "utf-8"])
def test_import_csv_in_each_encoding(runner: CliRunner, tmp_path: Path, encoding: str) -> None:
    """GBK, UTF-8 with BOM and plain UTF-8 exports give the same examples and counts."""
    source = write_csv(tmp_path / "orders.csv", encoding)
    out = tmp_path / "imported.yml"
    result = runner.invoke(
        nlu,
        [
            "import-csv",
            str(source),
            "--text-column",
            "来电内容",
            "--label-column",
            "问题分类",
            "--out",
            str(out),
        ],
    )
    assert result.exit_code == 0, result.output
    assert load_training_data([out]) == [
        ("我想问下养老金什么时候发", "社保"),
        ("村口的路灯坏了", "路灯"),
        ("家里老房子想翻建", "建房"),
    ]
    assert "6 rows" in result.stderr
    assert "2 empty skipped" in result.stderr
    assert "1 duplicates skipped" in result.stderr
    assert "社保: 1" in result.stderr


def test_import_csv_to_stdout_with_tabs_and_label_map(runner: CliRunner, tmp_path: Path) -> None:
    """A tab-separated export is mapped to taxonomy codes; unmapped labels are counted."""
    source = tmp_path / "orders.tsv"
    source.write_bytes("\n".join("\t".join(row) for row in WORK_ORDERS).encode("gb18030"))
    label_map = tmp_path / "map.yml"
    label_map.write_text("社保: social_pension\n建房: land_homestead\n", encoding="utf-8")
    result = runner.invoke(
        nlu,
        [
            "import-csv",
            str(source),
            "--text-column",
            "来电内容",
            "--label-column",
            "问题分类",
            "--map",
            str(label_map),
        ],
    )
    assert result.exit_code == 0, result.output
    assert "- intent: social_pension" in result.stdout
    assert "- intent: land_homestead" in result.stdout
    assert "路灯" not in result.stdout
    assert "unmapped 路灯: 1" in result.stderr


def test_import_csv_map_as_csv(runner: CliRunner, tmp_path: Path) -> None:
    """A CSV label map (header row, then old,code) works too."""
    source = write_csv(tmp_path / "orders.csv", "gbk")
    label_map = write_csv(
        tmp_path / "map.csv", "gbk", [("旧分类", "意图"), ("社保", "social_pension")]
    )
    result = runner.invoke(
        nlu,
        [
            "import-csv",
            str(source),
            "--text-column",
            "来电内容",
            "--label-column",
            "问题分类",
            "--map",
            str(label_map),
        ],
    )
    assert result.exit_code == 0, result.output
    assert "- intent: social_pension" in result.stdout


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (["--text-column", "内容", "--label-column", "问题分类"], "no column '内容'"),
        (
            ["--text-column", "来电内容", "--label-column", "类别"],
            "the columns are: '工单号', '来电内容', '问题分类'",
        ),
        (
            ["--text-column", "来电内容", "--label-column", "问题分类", "--encoding", "klingon"],
            "unknown encoding",
        ),
        (
            ["--text-column", "来电内容", "--label-column", "问题分类", "--encoding", "utf-8"],
            "not valid utf-8",
        ),
        (
            ["--text-column", "来电内容", "--label-column", "问题分类", "--map", "{bad_map}"],
            "not intent codes",
        ),
        (
            ["--text-column", "工单号", "--label-column", "问题分类", "--map", "{empty_map}"],
            "no usable rows",
        ),
    ],
)
def test_import_csv_bad_input(
    runner: CliRunner, tmp_path: Path, options: list[str], message: str
) -> None:
    """Unknown columns, encodings and label codes are clear errors with a non-zero exit."""
    source = write_csv(tmp_path / "orders.csv", "gbk")
    bad_map, empty_map = tmp_path / "bad.yml", tmp_path / "empty.yml"
    bad_map.write_text("社保: pension_typo\n", encoding="utf-8")
    empty_map.write_text("其他: social_pension\n", encoding="utf-8")
    arguments = [option.format(bad_map=bad_map, empty_map=empty_map) for option in options]
    result = runner.invoke(nlu, ["import-csv", str(source), *arguments])
    assert result.exit_code != 0
    assert message in result.stderr
    assert "Traceback" not in result.output


def test_import_csv_empty_file(runner: CliRunner, tmp_path: Path) -> None:
    """An empty file is refused with a clear message."""
    source = tmp_path / "empty.csv"
    source.write_bytes(b"")
    result = runner.invoke(
        nlu, ["import-csv", str(source), "--text-column", "a", "--label-column", "b"]
    )
    assert result.exit_code != 0
    assert "empty" in result.stderr
