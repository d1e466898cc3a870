"""Names shown for the domain's codes (statuses, actions, colours, channels, roles), translated."""

from __future__ import annotations

from flask_babel import LazyString
from flask_babel import lazy_gettext as _l

from cases import status_texts
from cases.models import Department
from intents.taxonomy import taxonomy

STATUSES: dict[str, LazyString] = {
    "new": _l("Awaiting review"),
    "accepted": _l("Accepted"),
    "dispatched": _l("Dispatched"),
    "in_progress": _l("In progress"),
    "awaiting_materials": _l("Awaiting materials"),
    "escalated": _l("Escalated"),
    "resolved": _l("Resolved"),
    "rated": _l("Rated"),
    "closed": _l("Closed"),
    "reopened": _l("Reopened"),
    "rejected": _l("Rejected"),
    "merged": _l("Merged"),
}

# The national 好差评 scale (1 best … 5 worst), as residents answered it.
RATINGS: dict[str, LazyString] = {
    "1": _l("1 Very satisfied"),
    "2": _l("2 Satisfied"),
    "3": _l("3 Basically satisfied"),
    "4": _l("4 Dissatisfied"),
    "5": _l("5 Very dissatisfied"),
}
ACTIONS: dict[str, LazyString] = {
    "create": _l("Created"),
    "accept": _l("Accept"),
    "reject": _l("Reject"),
    "reclassify": _l("Reclassify"),
    "dispatch": _l("Dispatch"),
    "sign": _l("Sign for"),
    "return": _l("Return"),
    "request_materials": _l("Request materials"),
    "receive_materials": _l("Materials received"),
    "escalate": _l("Escalate"),
    "resolve": _l("Resolve"),
    "rate": _l("Rated by resident"),
    "reopen": _l("Reopened"),
    "close": _l("Closed"),
    "merge": _l("Merge as duplicate"),
    "unmerge": _l("Undo merge"),
    "confirm_merge": _l("Confirm merge"),
    "dismiss_duplicate": _l("Not a duplicate"),
    "request_extension": _l("Request extension"),
    "approve_extension": _l("Approve extension"),
    "deny_extension": _l("Deny extension"),
    "remind": _l("Remind"),
    "supervise": _l("Supervise"),
    "assign": _l("Assigned"),
    "warn": _l("Deadline warning"),
    "note": _l("Internal note"),
    "message": _l("Message to resident"),
}

WARNINGS: dict[str, LazyString] = {
    "none": _l("On track"),
    "yellow": _l("Yellow"),
    "orange": _l("Orange"),
    "red": _l("Red (overdue)"),
}

CHANNELS: dict[str, LazyString] = {
    "sms": _l("SMS"),
    "whatsapp": _l("WhatsApp"),
    "voice": _l("Phone"),
    "wechat": _l("WeChat"),
    "web": _l("Web chat"),
    "walk_in": _l("Walk-in"),
    "patrol": _l("Grid patrol"),
    "api": _l("Other system"),
}

ROLES: dict[str, LazyString] = {
    "village_proxy": _l("Village proxy agent"),
    "town_worker": _l("Town worker"),
    "department_handler": _l("Department handler"),
    "county_supervisor": _l("County supervisor"),
    "admin": _l("Administrator"),
}

HANDLING: dict[str, LazyString] = {
    "immediate": _l("Immediate (same day)"),
    "promised": _l("Promised (working days)"),
    "urgent": _l("Urgent (hours)"),
}


def label(table: dict[str, LazyString], code: object) -> str:
    """The shown name of a code (an enum or its value); the code itself when unknown."""
    key = str(getattr(code, "value", code))
    found = table.get(key)
    return str(found) if found is not None else key


def item_name(code: str, language: str = "zh") -> str:
    """The catalog item's name in the language; the code when unknown."""
    return status_texts.item_name(code, language)


def category_name(code: str, language: str = "zh") -> str:
    """The taxonomy category's name in the language; the code when unknown."""
    for category in taxonomy().categories:
        if category.code == code:
            return category.en if language == "en" else category.zh
    return code


def unit_name(unit: Department | None, language: str = "zh") -> str:
    """A unit's name in the language (its Chinese name when it has no English one)."""
    return status_texts.department_name(unit, language) if unit is not None else ""
