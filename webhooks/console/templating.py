"""Template helpers of the console: local times, masking, names of codes, the CSRF token."""

from __future__ import annotations

import datetime as dt

from flask import Flask
from flask_babel import get_locale
from flask_wtf.csrf import generate_csrf

from bot.masking import mask_phone, mask_sensitive_text
from webhooks.console import labels


def init_app(app: Flask) -> None:
    """Filters and globals for the console's templates."""
    zone = app.extensions["zhitong"].settings.zone

    def local_time(moment: dt.datetime | None, fmt: str = "%Y-%m-%d %H:%M") -> str:
        return moment.astimezone(zone).strftime(fmt) if moment else "—"

    def language() -> str:
        locale = get_locale()
        return locale.language if locale else "zh"

    def phone(number: str | None, full: bool = False) -> str:
        if not number:
            return "—"
        return number if full else mask_phone(number)

    app.jinja_env.filters.update(
        local_time=local_time,
        local_date=lambda moment: local_time(moment, "%Y-%m-%d"),
        phone=phone,
        masked=mask_sensitive_text,
        percent=lambda rate: "—" if rate is None else f"{rate * 100:.1f}%",
    )
    app.jinja_env.globals.update(
        csrf_token=generate_csrf,
        language=language,
        status_name=lambda code: labels.label(labels.STATUSES, code),
        action_name=lambda code: labels.label(labels.ACTIONS, code),
        rating_name=lambda score: labels.label(labels.RATINGS, score),
        warning_name=lambda code: labels.label(labels.WARNINGS, code),
        channel_name=lambda code: labels.label(labels.CHANNELS, code),
        role_name=lambda code: labels.label(labels.ROLES, code),
        handling_name=lambda code: labels.label(labels.HANDLING, code),
        item_name=lambda code: labels.item_name(code, language()),
        category_name=lambda code: labels.category_name(code, language()),
        unit_name=lambda unit: labels.unit_name(unit, language()),
    )
