"""Structured logs that carry no message bodies or full phone numbers.

Callers log ids and outcomes, never what a resident wrote. As a safety net every record passes
through a filter that masks phone and ID-card numbers in the rendered message and string fields.
"""

from __future__ import annotations

import logging
import sys
from typing import Any

from pythonjsonlogger.json import JsonFormatter

from bot.masking import mask_sensitive_text
from cases.settings import Settings

_FORMATTER = logging.Formatter()
_STANDARD_ATTRIBUTES = frozenset(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {"message"}


class RedactingFilter(logging.Filter):
    """Mask phone and ID-card numbers in a record's message and extra string fields."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except (TypeError, ValueError):
            message = str(record.msg)
        record.msg, record.args = mask_sensitive_text(message), ()
        if record.exc_info:
            # Tracebacks quote values (a number in a ValueError); render and mask them here.
            record.exc_text = mask_sensitive_text(_FORMATTER.formatException(record.exc_info))
            record.exc_info = None
        elif record.exc_text:
            record.exc_text = mask_sensitive_text(record.exc_text)
        if record.stack_info:
            record.stack_info = mask_sensitive_text(record.stack_info)
        for key, value in list(vars(record).items()):
            if key not in _STANDARD_ATTRIBUTES and isinstance(value, str):
                setattr(record, key, mask_sensitive_text(value))
        return True


def configure_logging(settings: Settings, stream: Any = None) -> None:
    """Send the process's logs to stderr as JSON lines (or text), redacted, at the set level."""
    handler = logging.StreamHandler(stream or sys.stderr)
    if settings.log_format == "json":
        handler.setFormatter(
            JsonFormatter(
                "%(asctime)s %(levelname)s %(name)s %(message)s",
                rename_fields={"asctime": "time", "levelname": "level", "name": "logger"},
                json_ensure_ascii=False,
            )
        )
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    handler.addFilter(RedactingFilter())
    root = logging.getLogger()
    for existing in list(root.handlers):
        if getattr(existing, "_zhitong", False):
            root.removeHandler(existing)
    handler._zhitong = True  # type: ignore[attr-defined]
    root.addHandler(handler)
    root.setLevel(settings.log_level)
    # Third-party chatter at INFO would drown the service's own lines.
    for noisy in ("rq.worker", "rq.scheduler", "waitress", "werkzeug", "alembic.runtime.migration"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, root.level))
