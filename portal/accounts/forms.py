from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import EmailField, SelectField, StringField, SubmitField, TextAreaField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, Length, Optional, Regexp

from portal.accounts.models import Role
from portal.web.validators import EmailAddress, PrintableText


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
    name = StringField("Name", validators=[DataRequired(), Length(max=200), PrintableText()])
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


class ClientBillingForm(FlaskForm):
    """Where a client's invoices go and what they say about the buyer (client admin and reseller)."""

    billing_email = EmailField(
        "Billing e-mail",
        validators=[Optional(), EmailAddress(), Length(max=254)],
        description="Invoices and payment notices go here.",
    )
    extra_billing_emails = TextAreaField(
        "More billing e-mails",
        validators=[Optional(), Length(max=1300)],
        description="Optional: up to 5 more addresses that get a copy, one per line.",
    )
    billing_address = TextAreaField(
        "Billing address",
        validators=[Optional(), Length(max=1000)],
        description="As it should appear on invoices, one line per line.",
    )
    tax_id = StringField(
        "Tax ID", validators=[Optional(), Length(max=64)], description="E.g. your VAT number: PL1234567890."
    )
    submit = SubmitField("Save billing details")
