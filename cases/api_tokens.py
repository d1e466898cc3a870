"""API tokens of outside systems: created, checked, scoped to an area, revoked.

A token is `zt_` followed by 43 URL-safe characters (256 random bits). Only its SHA-256 hash is
stored — a hash suffices, as the secret is random, not a password — and the plain secret is
shown once, when the operator creates it (`zhitong api token create`).

A token carries permissions (scopes) and an area: it sees and acts on the cases whose place or
town lies inside its area; a token of the county sees every case, also those of no known place.
Personal data of a case is shown only to a token with the `personal_data` permission whose area
covers the case.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import ColumnElement, or_, select, true
from sqlalchemy.orm import Session

from cases.exceptions import (
    InvalidScopeError,
    InvalidTokenError,
    NotFoundError,
    PermissionDeniedError,
)
from cases.models import ApiToken, Area, Case
from cases.models.directory import AreaLevel

TOKEN_PREFIX = "zt_"
_SHOWN_CHARS = 8  # of the secret after the prefix, kept in clear to tell tokens apart
# Writing last_used_at on every request would make each read a write; once a minute is enough.
_TOUCH_INTERVAL = dt.timedelta(minutes=1)

SCOPES: dict[str, str] = {
    "cases:read": "list and read cases",
    "cases:write": "open cases (REST API and Open311 POST)",
    "cases:transition": "change a case's status (accept, resolve, …)",
    "figures:read": "read the headline figures",
    "personal_data": "see residents' names and numbers in cases within the token's area",
}


@dataclass(frozen=True)
class IssuedToken:
    """A token just created: the stored row and the secret, which is never shown again."""

    token: ApiToken
    secret: str


def parse_scopes(text: str | Iterable[str]) -> list[str]:
    """Scopes from "cases:read,cases:write" (or a list), checked and without repeats.

    Raises:
        InvalidScopeError: an unknown permission, or none at all.
    """
    parts = text.split(",") if isinstance(text, str) else list(text)
    scopes = list(dict.fromkeys(part.strip() for part in parts if part.strip()))
    unknown = [scope for scope in scopes if scope not in SCOPES]
    if unknown:
        raise InvalidScopeError(
            f"unknown scope(s) {', '.join(unknown)}; known: {', '.join(SCOPES)}"
        )
    if not scopes:
        raise InvalidScopeError(f"give at least one scope of: {', '.join(SCOPES)}")
    return scopes


def hash_secret(secret: str) -> str:
    """The stored form of a token's secret."""
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def create_token(
    session: Session, name: str, area_code: str, scopes: str | Iterable[str], now: dt.datetime
) -> IssuedToken:
    """Create a token for an outside system (the caller commits and shows the secret once).

    Raises:
        NotFoundError: no area with that code.
        InvalidScopeError: an unknown permission.
    """
    area = session.scalars(select(Area).where(Area.code == area_code)).first()
    if area is None:
        raise NotFoundError(f"no area with code {area_code!r}")
    if not name.strip():
        raise InvalidScopeError("a token needs a name saying who uses it")
    secret = TOKEN_PREFIX + secrets.token_urlsafe(32)
    token = ApiToken(
        name=name.strip()[:64],
        prefix=secret[: len(TOKEN_PREFIX) + _SHOWN_CHARS],
        secret_hash=hash_secret(secret),
        area_id=area.id,
        scopes=parse_scopes(scopes),
        created_at=now,
    )
    session.add(token)
    session.flush()
    return IssuedToken(token, secret)


def authenticate(session: Session, secret: str, now: dt.datetime) -> ApiToken:
    """The live token for a secret; notes when it was last used.

    Raises:
        InvalidTokenError: malformed, unknown or revoked.
    """
    secret = secret.strip()
    if not secret.startswith(TOKEN_PREFIX) or len(secret) > 100:
        raise InvalidTokenError("malformed API token")
    token = session.scalars(
        select(ApiToken).where(ApiToken.secret_hash == hash_secret(secret))
    ).first()
    if token is None:
        raise InvalidTokenError("unknown API token")
    if token.revoked_at is not None:
        raise InvalidTokenError("this API token has been revoked")
    if token.last_used_at is None or now - token.last_used_at > _TOUCH_INTERVAL:
        token.last_used_at = now
    return token


def revoke_token(session: Session, key: str, now: dt.datetime) -> ApiToken:
    """Revoke a token named by its id or its shown prefix (idempotent).

    Raises:
        NotFoundError: no such token, or a prefix several tokens share.
    """
    if key.isdigit():
        matches = [token] if (token := session.get(ApiToken, int(key))) else []
    else:
        matches = list(session.scalars(select(ApiToken).where(ApiToken.prefix.startswith(key))))
    if len(matches) != 1:
        raise NotFoundError(
            f"no token {key!r}" if not matches else f"{len(matches)} tokens match {key!r}"
        )
    if matches[0].revoked_at is None:
        matches[0].revoked_at = now
    return matches[0]


def list_tokens(session: Session) -> list[tuple[ApiToken, Area]]:
    """Every token with its area, newest first."""
    query = select(ApiToken, Area).join(Area, Area.id == ApiToken.area_id)
    return [(token, area) for token, area in session.execute(query.order_by(ApiToken.id.desc()))]


def require_scope(token: ApiToken, scope: str) -> None:
    """Refuse a request whose token lacks `scope`.

    Raises:
        PermissionDeniedError: the token has no such permission.
    """
    if scope not in token.scopes:
        raise PermissionDeniedError(f"this token lacks the {scope!r} permission")


def token_area(session: Session, token: ApiToken) -> Area:
    """The area a token is limited to."""
    area = session.get(Area, token.area_id)
    if area is None:  # the foreign key makes this impossible short of manual deletes
        raise InvalidTokenError("the token's area no longer exists")
    return area


def token_case_scope(session: Session, token: ApiToken) -> ColumnElement[bool]:
    """A WHERE condition on `Case` selecting the cases a token may see."""
    area = token_area(session, token)
    if area.level is AreaLevel.COUNTY:
        return true()
    inside = select(Area.id).where(Area.path.startswith(area.path))
    return or_(Case.area_id.in_(inside), Case.town_id.in_(inside))


def token_covers_area(session: Session, token: ApiToken, area: Area | None) -> bool:
    """True when a place (None: unknown) lies inside the token's area."""
    scope = token_area(session, token)
    if scope.level is AreaLevel.COUNTY:
        return True
    return area is not None and scope.covers(area)


def token_covers(session: Session, token: ApiToken, case: Case) -> bool:
    """True when the case lies inside the token's area."""
    scope = token_area(session, token)
    if scope.level is AreaLevel.COUNTY:
        return True
    for area_id in (case.area_id, case.town_id):
        area = session.get(Area, area_id) if area_id is not None else None
        if area is not None and scope.covers(area):
            return True
    return False


def shows_personal_data(session: Session, token: ApiToken | None, case: Case) -> bool:
    """True when a token may see the resident's name and numbers in this case."""
    return (
        token is not None and "personal_data" in token.scopes and token_covers(session, token, case)
    )
