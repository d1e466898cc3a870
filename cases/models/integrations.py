"""The integrations aggregate: API tokens of outside systems and what they sent with a case."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from cases.models.base import Base, utcnow


class ApiToken(Base):
    """A credential of an outside system (REST API, Open311 client), limited to an area.

    Only a SHA-256 hash of the secret is stored; the secret is shown once, at creation.
    """

    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(64))
    # The first characters of the secret, so an operator can tell tokens apart in a list.
    prefix: Mapped[str] = mapped_column(String(16))
    secret_hash: Mapped[str] = mapped_column(String(64), unique=True)
    area_id: Mapped[int] = mapped_column(ForeignKey("areas.id"))
    scopes: Mapped[list[Any]] = mapped_column(default=list)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    last_used_at: Mapped[dt.datetime | None]
    revoked_at: Mapped[dt.datetime | None]


class CaseSubmission(Base):
    """What an outside system sent along with a case it opened (Open311 fields, its token).

    Personal data (name, e-mail, phone, device and account ids) lives here and in the contact,
    never in the case's own columns; the API masks it unless the token may see it.
    """

    __tablename__ = "case_submissions"

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), unique=True)
    api_token_id: Mapped[int | None] = mapped_column(ForeignKey("api_tokens.id"))
    # Open311's request token: the client may follow its request by it (GET tokens/{token}).
    token: Mapped[str] = mapped_column(String(36), unique=True)
    latitude: Mapped[float | None]
    longitude: Mapped[float | None]
    address: Mapped[str] = mapped_column(String(255), default="")
    address_id: Mapped[str] = mapped_column(String(64), default="")
    zipcode: Mapped[str] = mapped_column(String(16), default="")
    media_url: Mapped[str] = mapped_column(String(500), default="")
    email: Mapped[str] = mapped_column(String(255), default="")
    device_id: Mapped[str] = mapped_column(String(64), default="")
    account_id: Mapped[str] = mapped_column(String(64), default="")
    first_name: Mapped[str] = mapped_column(String(64), default="")
    last_name: Mapped[str] = mapped_column(String(64), default="")
    attributes: Mapped[dict[str, Any]] = mapped_column(default=dict)
    note: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)

    __table_args__ = (Index("ix_case_submissions_api_token_id", "api_token_id"),)
