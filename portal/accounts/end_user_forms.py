"""Forms of the client administrator's end-user pages."""

from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import EmailField, StringField, SubmitField
from wtforms.validators import DataRequired, Length, Optional, Regexp

from portal.web.validators import UserPrincipalName


def _strip(value: str | None) -> str | None:
    return value.strip() if isinstance(value, str) else value


class EndUserForm(FlaskForm):
    name = StringField(
        "Name",
        filters=[_strip],
        validators=[
            DataRequired(),
            Length(max=200),
            # Control characters (a pasted tab, a NUL byte) have no place in a name on an invoice.
            Regexp(r"^[^\x00-\x1f\x7f]*$", message="Use one line of letters, digits and punctuation."),
        ],
    )
    email = EmailField(
        "E-mail or UPN",
        filters=[_strip],
        validators=[DataRequired(), Length(max=254), UserPrincipalName()],
        description="What they sign in with, e.g. alice@acme.com or alice@corp.local.",
    )
    extension = StringField(
        "Phone extension",
        filters=[_strip],
        validators=[Optional(), Regexp(r"^\d{2,8}$", message="Use 2 to 8 digits.")],
        description="Only needed for a VoIP seat.",
    )
    submit = SubmitField("Add end user")


class RemoveEndUserForm(FlaskForm):
    """Nothing to fill in: the form carries the CSRF token of the confirmation."""

    submit = SubmitField("Remove")
