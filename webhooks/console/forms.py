"""The console's forms. Every one is a Flask-WTF form, so every POST carries a CSRF token.

Choices that depend on the agent (units, areas, catalog items) are set by the view before
validation; labels are lazy so they follow the agent's language.
"""

from __future__ import annotations

from collections.abc import Iterable

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import (
    BooleanField,
    HiddenField,
    IntegerField,
    PasswordField,
    SelectField,
    StringField,
    TextAreaField,
)
from wtforms.fields.choices import SelectChoice
from wtforms.validators import (
    DataRequired,
    EqualTo,
    InputRequired,
    Length,
    NumberRange,
    Optional,
    Regexp,
)

from cases.models.directory import AgentRole

MIN_PASSWORD_LENGTH = 10


def choices(pairs: Iterable[tuple[object, object]]) -> list[SelectChoice]:
    """Select options from (value, label) pairs (WTForms wants SelectChoice objects)."""
    return [SelectChoice(str(value), label) for value, label in pairs]


PHONE_PATTERN = r"^[+0-9０-９][0-9０-９ \-]{5,19}$"


class CsrfForm(FlaskForm):
    """A form with nothing but its CSRF token: sign-out and one-click buttons."""


class LoginForm(FlaskForm):
    """Username and password."""

    username = StringField(_l("Username"), validators=[DataRequired(), Length(max=64)])
    password = PasswordField(_l("Password"), validators=[DataRequired(), Length(max=128)])


class PasswordForm(FlaskForm):
    """The current password and a new one, twice."""

    current = PasswordField(_l("Current password"), validators=[DataRequired()])
    new = PasswordField(
        _l("New password"),
        validators=[
            DataRequired(),
            Length(
                min=MIN_PASSWORD_LENGTH,
                max=128,
                message=_l("At least %(min)d characters.", min=MIN_PASSWORD_LENGTH),
            ),
        ],
    )
    confirm = PasswordField(
        _l("New password again"),
        validators=[DataRequired(), EqualTo("new", message=_l("The two passwords differ."))],
    )


class ActionForm(FlaskForm):
    """One action on a case; which fields matter depends on `action`."""

    action = HiddenField(validators=[DataRequired()])
    version = IntegerField(validators=[InputRequired()])
    note = TextAreaField(_l("Text"), validators=[Optional(), Length(max=2000)])
    item_code = StringField(_l("Item"), validators=[Optional(), Length(max=64)])
    department_id = IntegerField(_l("Unit"), validators=[Optional()])
    assignee_id = IntegerField(_l("Agent"), validators=[Optional()])
    days = IntegerField(_l("Working days"), validators=[Optional(), NumberRange(min=1, max=10)])
    duplicate_of = StringField(_l("Surviving case number"), validators=[Optional(), Length(max=32)])


class ReplyForm(FlaskForm):
    """A message to a resident."""

    body = TextAreaField(_l("Message"), validators=[DataRequired(), Length(max=1000)])


class RegisterForm(FlaskForm):
    """A walk-in (窗口) or patrol (巡查) case registered by an agent for a resident."""

    channel = SelectField(
        _l("How it came in"),
        choices=choices([("walk_in", _l("Walk-in at the window")), ("patrol", _l("Grid patrol"))]),
    )
    item_code = SelectField(_l("Matter"), validators=[DataRequired()])
    area_id = SelectField(_l("Place"), coerce=int, validators=[DataRequired()])
    name = StringField(_l("Resident's name"), validators=[Optional(), Length(max=64)])
    phone = StringField(
        _l("Resident's phone"),
        validators=[
            Optional(),
            Regexp(PHONE_PATTERN, message=_l("Enter a phone number, e.g. 13800138000.")),
        ],
    )
    description = TextAreaField(
        _l("What the resident needs"), validators=[DataRequired(), Length(max=2000)]
    )
    urgent = BooleanField(_l("Urgent (risk to life or property)"))


class AgentForm(FlaskForm):
    """An agent account, as the administrator edits it."""

    username = StringField(
        _l("Username"),
        validators=[DataRequired(), Length(max=64), Regexp(r"^[A-Za-z0-9_.\-]+$")],
    )
    display_name = StringField(_l("Name"), validators=[DataRequired(), Length(max=64)])
    role = SelectField(_l("Role"), choices=choices((role.value, role.value) for role in AgentRole))
    area_id = SelectField(_l("Area"), coerce=int)
    department_id = SelectField(_l("Unit"), coerce=int)
    phone = StringField(_l("Phone"), validators=[Optional(), Regexp(PHONE_PATTERN), Length(max=20)])
    language = SelectField(_l("Language"), choices=choices([("zh", "中文"), ("en", "English")]))
    active = BooleanField(_l("Active"), default=True)
    password = PasswordField(
        _l("New password"),
        validators=[Optional(), Length(min=MIN_PASSWORD_LENGTH, max=128)],
    )
    unlock = BooleanField(_l("Unlock (clear failed sign-ins)"))
