"""Logging: JSON lines on stderr, and no full phone or ID-card number in any record."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from cases.logs import RedactingFilter, configure_logging
from cases.settings import Settings, load_settings

PHONE = "13800138000"
ID_CARD = "110105194912310021"
NOISY = ("rq.worker", "rq.scheduler", "waitress", "werkzeug", "alembic.runtime.migration")


@pytest.fixture
def restore_logging() -> Iterator[None]:
    """Undo configure_logging: root handlers and levels as they were."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    noisy_levels = {name: logging.getLogger(name).level for name in NOISY}
    yield
    root.handlers[:] = handlers
    root.setLevel(level)
    for name, noisy_level in noisy_levels.items():
        logging.getLogger(name).setLevel(noisy_level)


@pytest.fixture
def stream(restore_logging: None) -> io.StringIO:
    """Where the configured handler writes."""
    return io.StringIO()


def configured(tmp_path: Path, stream: io.StringIO, **options: Any) -> logging.Logger:
    """Configure logging with settings `options` into `stream`; a logger to write with."""
    settings: Settings = load_settings(instance_path=tmp_path, **options)
    configure_logging(settings, stream=stream)
    return logging.getLogger("zhitong.test")


def lines(stream: io.StringIO) -> list[dict[str, Any]]:
    """The JSON objects written so far."""
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def test_json_lines(tmp_path: Path, stream: io.StringIO) -> None:
    """Each record is one JSON object with time, level, logger and message."""
    log = configured(tmp_path, stream, log_format="json")
    log.info("case %s accepted", "202610090001")
    log.warning("second line")
    first, second = lines(stream)
    assert first["message"] == "case 202610090001 accepted"
    assert (first["level"], first["logger"]) == ("INFO", "zhitong.test")
    assert "time" in first
    assert second["level"] == "WARNING"


def test_json_keeps_chinese_readable(tmp_path: Path, stream: io.StringIO) -> None:
    """Chinese text is written as itself, not as \\u escapes."""
    configured(tmp_path, stream, log_format="json").info("已受理")
    assert "已受理" in stream.getvalue()


def test_extra_fields_in_json(tmp_path: Path, stream: io.StringIO) -> None:
    """Fields given with extra= become keys of the JSON object."""
    configured(tmp_path, stream).info("sent", extra={"case_id": 17, "channel": "sms"})
    (line,) = lines(stream)
    assert (line["case_id"], line["channel"]) == (17, "sms")


def test_text_format(tmp_path: Path, stream: io.StringIO) -> None:
    """log_format=text writes plain lines."""
    configured(tmp_path, stream, log_format="text").info("plain")
    output = stream.getvalue()
    assert output.rstrip().endswith("INFO zhitong.test: plain")
    with pytest.raises(json.JSONDecodeError):
        json.loads(output)


def test_level_is_applied(tmp_path: Path, stream: io.StringIO) -> None:
    """Records below the configured level are dropped."""
    log = configured(tmp_path, stream, log_level="WARNING")
    log.info("hidden")
    log.error("shown")
    assert [line["message"] for line in lines(stream)] == ["shown"]


def test_reconfiguring_replaces_the_handler(tmp_path: Path, stream: io.StringIO) -> None:
    """Calling configure_logging twice does not duplicate lines."""
    configured(tmp_path, stream)
    log = configured(tmp_path, stream)
    log.info("once")
    assert len(lines(stream)) == 1


def test_noisy_libraries_quietened(tmp_path: Path, stream: io.StringIO) -> None:
    """Third-party INFO chatter is raised to WARNING."""
    configured(tmp_path, stream, log_level="DEBUG")
    for name in NOISY:
        assert logging.getLogger(name).level == logging.WARNING


def test_configured_output_has_no_full_numbers(tmp_path: Path, stream: io.StringIO) -> None:
    """Neither the message nor an extra field reaches the stream with a full number."""
    log = configured(tmp_path, stream)
    log.info("resident %s id %s", PHONE, ID_CARD, extra={"sender": f"+86{PHONE}"})
    output = stream.getvalue()
    assert PHONE not in output and ID_CARD not in output
    (line,) = lines(stream)
    assert line["message"] == "resident 138****8000 id 110***********0021"
    assert line["sender"] == "138****8000"


def record(msg: str, args: tuple[object, ...] = (), **extra: object) -> logging.LogRecord:
    """A log record as a logger would make it."""
    made = logging.LogRecord("zhitong.test", logging.INFO, __file__, 1, msg, args, None)
    for key, value in extra.items():
        setattr(made, key, value)
    return made


@pytest.mark.parametrize(
    ("msg", "args", "expected"),
    [
        ("from 13800138000", (), "from 138****8000"),
        ("from %s", (PHONE,), "from 138****8000"),
        ("身份证%s", (ID_CARD,), "身份证110***********0021"),
        ("身份证 11010519491231002X 已核验", (), "身份证 110***********002X 已核验"),
        ("电话 138 0013 8000", (), "电话 138****8000"),
        ("case 202611220017 on 2026-11-22", (), "case 202611220017 on 2026-11-22"),
        ("%d cases", (3,), "3 cases"),
    ],
)
def test_filter_masks_message(msg: str, args: tuple[object, ...], expected: str) -> None:
    """The rendered message is masked; case numbers and dates are left alone."""
    masked = record(msg, args)
    assert RedactingFilter().filter(masked) is True
    assert masked.getMessage() == expected
    assert masked.args == ()


def test_filter_masks_extra_string_fields() -> None:
    """String extras are masked; numbers and standard attributes are untouched."""
    masked = record("sent", phone=PHONE, id_card=ID_CARD, case_id=17, channel="sms")
    RedactingFilter().filter(masked)
    assert (masked.phone, masked.id_card) == ("138****8000", "110***********0021")  # type: ignore[attr-defined]
    assert (masked.case_id, masked.channel) == (17, "sms")  # type: ignore[attr-defined]
    assert masked.pathname == __file__


def test_filter_survives_bad_format_arguments() -> None:
    """A record whose arguments do not fit its format is still logged, masked."""
    masked = record("from %s and %s", (PHONE,))
    assert RedactingFilter().filter(masked) is True
    assert masked.getMessage() == "from %s and %s"


def test_exception_text_has_no_full_numbers(tmp_path: Path, stream: io.StringIO) -> None:
    """A traceback whose error message holds a phone number is masked too."""
    log = configured(tmp_path, stream)
    try:
        raise ValueError(f"provider refused {PHONE}")
    except ValueError:
        log.exception("send failed")
    assert PHONE not in stream.getvalue()
