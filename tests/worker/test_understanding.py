"""Tests for worker.understanding: the shared cache of the project's model file."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from bot.nlu import train
from tests.fixtures.nlu import project_model_path
from worker import understanding


class _FakeModel:
    """Stands in for a trained model: `save` writes a marker, training is counted."""

    trained = 0

    def save(self, path: Path) -> None:
        Path(path).write_text("model", encoding="utf-8")


def _fake_train(examples: Any) -> _FakeModel:
    _FakeModel.trained += 1
    return _FakeModel()


def test_cache_follows_the_glossary(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A changed glossary trains a new model file; an unchanged one reuses the cached file.

    Before the glossary was part of the key, a model trained without it kept being reused.
    """
    glossary = tmp_path / "glossary.yml"
    glossary.write_text("version: 1\nterms:\n  pension: 养老金\n", encoding="utf-8")
    monkeypatch.setattr(understanding, "GLOSSARY_PATH", glossary)
    monkeypatch.setattr(understanding, "train", _fake_train)
    _FakeModel.trained = 0
    cache = tmp_path / "cache"
    cache.mkdir()

    first = understanding.cached_project_model(cache)
    assert understanding.cached_project_model(cache) == first
    assert _FakeModel.trained == 1

    glossary.write_text("version: 1\nterms:\n  pension: 养老金 退休金\n", encoding="utf-8")
    second = understanding.cached_project_model(cache)
    assert second != first
    assert _FakeModel.trained == 2
    assert sorted(path.name for path in cache.iterdir()) == sorted([first.name, second.name])


def test_model_is_current_reads_the_header(tmp_path: Path) -> None:
    """Only a file trained on the project's examples and glossary is current."""
    assert understanding.model_is_current(project_model_path())
    toy = tmp_path / "toy.joblib"
    train([("我想申请低保", "social_minimum_living"), ("你好", "greet")]).save(toy)
    assert not understanding.model_is_current(toy)
    assert not understanding.model_is_current(tmp_path / "missing.joblib")
    garbage = tmp_path / "garbage.joblib"
    garbage.write_bytes(b"PK\x03\x04")
    assert not understanding.model_is_current(garbage)


def test_ensure_model_refreshes_only_when_asked(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A stale file is kept by default and retrained with refresh; a current one is kept."""
    monkeypatch.setattr(understanding, "train", _fake_train)
    _FakeModel.trained = 0
    stale = tmp_path / "model.joblib"
    stale.write_bytes(b"an old model")
    assert not understanding.ensure_model(stale)
    assert understanding.ensure_model(stale, refresh=True)
    assert _FakeModel.trained == 1
    assert stale.read_text(encoding="utf-8") == "model"
    assert not understanding.ensure_model(project_model_path(), refresh=True)
    assert _FakeModel.trained == 1
    missing = tmp_path / "new" / "model.joblib"
    assert understanding.ensure_model(missing)
    assert missing.exists()
    assert not list(missing.parent.glob(".*"))  # no partial file left behind
