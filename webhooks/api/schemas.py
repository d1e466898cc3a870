"""The REST API's request and response shapes (pydantic); the OpenAPI document is built from them.

Requests are validated strictly: unknown body fields, wrong types and out-of-range values are a
422 naming the field. Responses are built through these models, so what is served is what the
document says.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import re
from typing import Annotated, Literal, get_args

from pydantic import BaseModel, ConfigDict, Field, field_validator

from cases.api_tokens import SCOPES
from cases.models.cases import CaseStatus, WarningLevel
from cases.models.directory import AreaLevel
from cases.models.messaging import Channel
from intents.catalog import catalog

ApiAction = Literal[
    "accept",
    "reject",
    "dispatch",
    "sign",
    "request_materials",
    "receive_materials",
    "escalate",
    "resolve",
    "rate",
    "reopen",
    "close",
    "remind",
    "note",
    "message",
]
# Lifecycle actions an outside system may take (with `cases:transition`); the rest stay with
# agents in the console (merge, extensions, reclassification, supervision).
API_ACTIONS: tuple[str, ...] = get_args(ApiAction)
Scope = Literal["cases:read", "cases:write", "cases:transition", "figures:read", "personal_data"]
assert set(Scope.__args__) == set(SCOPES)  # type: ignore[attr-defined]

PERIOD_PATTERN = r"^20[0-9]{2}-(0[1-9]|1[0-2])$"
_CODE = r"^[A-Za-z0-9_.\-]{1,64}$"
_TEXT_LIMIT = 2000


class _Input(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True, frozen=True)


class CaseCreate(_Input):
    """A case submitted by an outside system on a resident's behalf."""

    item_code: str = Field(description="Catalog item code (see GET /api/catalog).")
    description: str = Field(min_length=1, max_length=_TEXT_LIMIT, description="What is wrong.")
    area_code: str | None = Field(
        default=None,
        pattern=_CODE,
        description="Village, grid or town code; defaults to the token's area below a town.",
    )
    summary: str = Field(default="", max_length=200)
    urgent: bool = Field(default=False, description="Risk to life or property (急办).")
    phone: str | None = Field(default=None, max_length=32, description="Resident's phone.")
    name: str | None = Field(default=None, max_length=64, description="Resident's name.")

    @field_validator("item_code")
    @classmethod
    def _known_item(cls, value: str) -> str:
        if value not in item_codes():
            raise ValueError("unknown catalog item code; see GET /api/catalog")
        return value

    @field_validator("description")
    @classmethod
    def _not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("the description is empty")
        return value


class CaseTransition(_Input):
    """One lifecycle action on a case."""

    action: ApiAction
    note: str = Field(
        default="", max_length=_TEXT_LIMIT, description="Reason, result or message text."
    )
    unit_code: str | None = Field(
        default=None, pattern=_CODE, description="dispatch: the unit the case goes to."
    )
    score: int | None = Field(
        default=None, ge=1, le=5, description="rate: 1 非常满意 … 5 非常不满意."
    )
    version: int | None = Field(
        default=None, ge=1, description="The case's version you saw; refused (409) if stale."
    )


class CaseListQuery(BaseModel):
    """Filters and paging of GET /api/cases (query parameters)."""

    model_config = ConfigDict(extra="ignore", str_strip_whitespace=True, frozen=True)

    status: str | None = Field(default=None, description="Comma-separated statuses.")
    item_code: str | None = Field(default=None, max_length=64)
    category: str | None = Field(default=None, max_length=64)
    area: str | None = Field(default=None, pattern=_CODE, description="Area code (and below).")
    channel: Channel | None = None
    received_from: dt.date | None = Field(default=None, description="First local day.")
    received_to: dt.date | None = Field(default=None, description="Last local day (included).")
    updated_since: dt.datetime | None = None
    limit: int = Field(default=50, ge=1, le=200)
    cursor: str | None = Field(default=None, max_length=64)

    @field_validator("status")
    @classmethod
    def _known_statuses(cls, value: str | None) -> str | None:
        if value is None:
            return None
        wanted = [part.strip() for part in value.split(",") if part.strip()]
        unknown = [part for part in wanted if part not in CaseStatus.__members__.values()]
        if unknown or not wanted:
            raise ValueError(f"unknown status; statuses are {', '.join(CaseStatus)}")
        return ",".join(wanted)

    @field_validator("updated_since")
    @classmethod
    def _aware(cls, value: dt.datetime | None) -> dt.datetime | None:
        if value is not None and value.tzinfo is None:
            raise ValueError("give a time zone offset, e.g. 2026-11-01T00:00:00+08:00")
        return value

    def statuses(self) -> list[CaseStatus]:
        """The statuses asked for (none: every status)."""
        return [CaseStatus(part) for part in self.status.split(",")] if self.status else []

    def after_id(self) -> int | None:
        """The case id the cursor points past (None: first page)."""
        return decode_cursor(self.cursor) if self.cursor else None


class FiguresQuery(BaseModel):
    """Parameters of GET /api/figures."""

    model_config = ConfigDict(extra="ignore", str_strip_whitespace=True, frozen=True)

    period: str | None = Field(default=None, pattern=PERIOD_PATTERN, description="YYYY-MM")
    area: str | None = Field(default=None, pattern=_CODE)


class AreaQuery(BaseModel):
    """Parameters of GET /api/areas."""

    model_config = ConfigDict(extra="ignore", str_strip_whitespace=True, frozen=True)

    level: AreaLevel | None = None
    parent: str | None = Field(default=None, pattern=_CODE)


def encode_cursor(case_id: int) -> str:
    """An opaque cursor for the page after the case with this id."""
    return base64.urlsafe_b64encode(f"c{case_id}".encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> int:
    """The case id inside a cursor.

    Raises:
        ValueError: not a cursor this API gave out.
    """
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode("ascii")
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise ValueError("not a cursor of this API") from None
    if not re.fullmatch(r"c[0-9]{1,12}", text):
        raise ValueError("not a cursor of this API")
    return int(text[1:])


def item_codes() -> frozenset[str]:
    """Codes of the catalog's items."""
    return frozenset(item.code for item in catalog().items)


# ---- responses -------------------------------------------------------------------------------


class Place(BaseModel):
    """An area or a unit, by code and name."""

    code: str
    name: str


class ContactOut(BaseModel):
    """The resident, masked (138****8000, 张*) unless the token may see personal data."""

    name: str | None
    phone: str | None


class LocationOut(BaseModel):
    """Where the problem is, as the submitting system gave it."""

    lat: float | None
    long: float | None
    address: str | None


class HistoryEntry(BaseModel):
    """One event of the case's history."""

    action: str
    at: dt.datetime
    from_status: CaseStatus | None
    to_status: CaseStatus | None
    note: str | None = Field(description="Only for events the resident was told of.")


class CaseOut(BaseModel):
    """A case as the API shows it."""

    number: str
    item_code: str
    item_name: str
    category_code: str
    category_name: str
    kind: Literal["service", "concern"]
    handling: Literal["immediate", "promised", "urgent"]
    status: CaseStatus
    status_name: str
    channel: Channel
    summary: str
    description: str
    area: Place | None
    town: Place | None
    unit: Place | None
    urgent: bool
    needs_review: bool
    warning_level: WarningLevel
    received_at: dt.datetime
    due_at: dt.datetime | None
    resolved_at: dt.datetime | None
    closed_at: dt.datetime | None
    updated_at: dt.datetime
    result: str
    reason: str
    contact: ContactOut | None
    location: LocationOut | None
    personal_data: bool = Field(description="True when names and numbers are shown unmasked.")
    version: int
    allowed_actions: list[ApiAction] = Field(description="Actions this token may take now.")


class CaseDetail(CaseOut):
    """A case with its history."""

    history: list[HistoryEntry]


class CasePage(BaseModel):
    """One page of cases, newest first; pass `next_cursor` as `cursor` for the next one."""

    items: list[CaseOut]
    next_cursor: str | None


class TimeLimitOut(BaseModel):
    """Working days (0: the same day) or clock hours."""

    working_days: int | None
    hours: int | None


class CatalogItemOut(BaseModel):
    """A catalog item (service or concern)."""

    code: str
    name: str
    name_en: str
    category: str
    category_name: str
    kind: Literal["service", "concern"]
    handling: Literal["immediate", "promised", "urgent"]
    time_limit: TimeLimitOut
    level: Literal["village", "town", "county"]
    department: str
    department_name: str
    materials: list[str]
    fees: str
    summary: str


class CatalogList(BaseModel):
    """The whole catalog."""

    items: list[CatalogItemOut]


class AreaOut(BaseModel):
    """A place of the county's network."""

    code: str
    name: str
    name_en: str
    level: AreaLevel
    parent_code: str | None


class AreaList(BaseModel):
    """Areas, in the directory's order."""

    items: list[AreaOut]


class RatesOut(BaseModel):
    """The headline rates (None when the denominator is zero)."""

    resolution_rate: float | None = Field(description="办结率")
    on_time_rate: float | None = Field(description="按时办结率")
    first_time_rate: float | None = Field(description="一次办结率")
    satisfaction_rate: float | None = Field(description="满意率")
    callback_rate: float | None = Field(description="回访率")


class FiguresOut(BaseModel):
    """The dashboard's headline figures for one month and area."""

    period: str
    area: Place
    received: int
    accepted: int
    resolved: int
    on_time: int
    first_time: int
    rated: int
    ratings: int
    satisfied: int
    rates: RatesOut
    open_by_colour: dict[WarningLevel, int]


class ErrorDetail(BaseModel):
    """Which input was wrong and why."""

    field: str | None
    message: str


class ErrorBody(BaseModel):
    """A stable machine code and a readable message."""

    code: str
    message: str
    details: Annotated[list[ErrorDetail], Field(default_factory=list)]


class ErrorOut(BaseModel):
    """Every error answer of the API."""

    error: ErrorBody
