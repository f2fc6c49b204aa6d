"""Forms of the people pages (the reseller's team, a client's portal users) and the API token pages."""

from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import EmailField, SelectField, StringField, SubmitField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, Length

from portal.accounts.models import Role
from portal.web.validators import EmailAddress, PrintableText

TEAM_ROLE_CHOICES = [
    SelectChoice(Role.RESELLER_STAFF.value, "Staff: reviews bills and files reports, changes no client"),
    SelectChoice(Role.RESELLER_ADMIN.value, "Administrator: everything, including people and prices"),
]
CLIENT_ROLE_CHOICES = [
    SelectChoice(Role.CLIENT_USER.value, "User: sees their own seats"),
    SelectChoice(Role.CLIENT_ADMIN.value, "Administrator: orders and manages everything"),
]


class ActionForm(FlaskForm):
    """A button that changes something: only the CSRF token travels with it."""

    submit = SubmitField("Go")


class InviteTeamMemberForm(FlaskForm):
    name = StringField("Name", validators=[DataRequired(), Length(max=200), PrintableText()])
    email = EmailField("E-mail", validators=[DataRequired(), EmailAddress(), Length(max=254)])
    role = SelectField("Role", choices=TEAM_ROLE_CHOICES, default=Role.RESELLER_STAFF.value)
    submit = SubmitField("Send invitation")


class RoleForm(FlaskForm):
    """One person's role, one form per row: the page prefixes each with the person's id."""

    role = SelectField("Role", choices=CLIENT_ROLE_CHOICES)
    submit = SubmitField("Change role")


class NewTokenForm(FlaskForm):
    name = StringField(
        "Name",
        validators=[DataRequired(), Length(max=100), PrintableText()],
        description="What will use it, e.g. “PSA nightly sync”.",
    )
    # Filled by the view: the roles (and, for a client, the people) a token may act as.
    access = SelectField("Acts as", choices=[])
    submit = SubmitField("Create token")
