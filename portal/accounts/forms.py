from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import EmailField, SelectField, StringField, SubmitField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, Length, Optional, Regexp

from portal.accounts.models import Role
from portal.web.validators import EmailAddress


class NewClientForm(FlaskForm):
    ref = StringField(
        "Reference",
        validators=[
            DataRequired(),
            Regexp(
                r"^[a-z0-9][a-z0-9-]{1,30}[a-z0-9]$", message="3 to 32 lowercase letters, digits or hyphens."
            ),
        ],
        description="A short, permanent name used in the API and reports, e.g. acme.",
    )
    name = StringField("Name", validators=[DataRequired(), Length(max=200)])
    billing_email = EmailField("Billing e-mail", validators=[Optional(), EmailAddress(), Length(max=254)])
    admin_name = StringField("Administrator's name", validators=[DataRequired(), Length(max=200)])
    admin_email = EmailField(
        "Administrator's e-mail",
        validators=[DataRequired(), EmailAddress(), Length(max=254)],
        description="We e-mail them an invitation to choose a password.",
    )
    submit = SubmitField("Create client and invite")


class InviteUserForm(FlaskForm):
    name = StringField("Name", validators=[DataRequired(), Length(max=200)])
    email = EmailField("E-mail", validators=[DataRequired(), EmailAddress(), Length(max=254)])
    role = SelectField(
        "Role",
        choices=[
            SelectChoice(Role.CLIENT_USER.value, "User: sees their own seats"),
            SelectChoice(Role.CLIENT_ADMIN.value, "Administrator: orders and manages everything"),
        ],
        default=Role.CLIENT_USER.value,
    )
    submit = SubmitField("Send invitation")
