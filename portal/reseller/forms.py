"""Forms of the reseller console. Every change is a POST with a CSRF token; filters are GET forms."""

from __future__ import annotations

from flask_wtf import FlaskForm
from flask_wtf.file import FileField
from wtforms import (
    BooleanField,
    EmailField,
    Field,
    IntegerField,
    SelectField,
    StringField,
    SubmitField,
    TextAreaField,
)
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, InputRequired, Length, NumberRange, Optional, ValidationError

from metering import MAX_HOLD_REASON, MAX_SPLA_REFERENCE, parse_period
from portal.errors import InvalidInput
from portal.web.validators import EmailAddress


class GetForm(FlaskForm):
    """A filter read from the query string: nothing changes, so there is no CSRF token to check."""

    class Meta:
        csrf = False


def _month(form: FlaskForm, field: Field) -> None:
    # metering's one month parser: the same months, and the same words, as every other month box.
    try:
        parse_period(field.data, field.name)
    except InvalidInput as error:
        raise ValidationError(error.fields.get(field.name, error.message)) from None


class PeriodForm(GetForm):
    period = StringField("Month", validators=[DataRequired(), _month], description="YYYY-MM")
    submit = SubmitField("Show")


REVIEW_FILTERS = [
    SelectChoice("all", "Every bill"),
    SelectChoice("drafts", "Drafts to approve"),
    SelectChoice("flagged", "Flagged"),
    SelectChoice("held", "Held"),
    SelectChoice("issued", "Approved"),
]


class ReviewFilterForm(GetForm):
    show = SelectField("Show", choices=REVIEW_FILTERS, default="all")
    q = StringField("Client", validators=[Optional(), Length(max=200)])
    submit = SubmitField("Filter")


class ActionForm(FlaskForm):
    """A button that changes something: only the CSRF token travels with it."""

    submit = SubmitField("Go")


class HoldForm(FlaskForm):
    reason = TextAreaField(
        "Why hold it",
        validators=[DataRequired(message="Say why, for whoever releases it."), Length(max=MAX_HOLD_REASON)],
        description="E.g. “Client disputes the number of mailboxes”.",
    )
    submit = SubmitField("Hold")


class SuspendForm(FlaskForm):
    reason = StringField(
        "Reason",
        validators=[DataRequired(message="Say why; it goes into the audit log."), Length(max=200)],
    )
    submit = SubmitField("Suspend the client")


class SplaSubmittedForm(FlaskForm):
    reference = StringField(
        "Distributor's reference",
        validators=[Optional(), Length(max=MAX_SPLA_REFERENCE)],
        description="Optional: the confirmation or order number the distributor gave you.",
    )
    submit = SubmitField("Mark submitted")


class ResellerProfileForm(FlaskForm):
    """The seller on every invoice; the service checks every value (portal.accounts.profile_services)."""

    name = StringField("Legal name", validators=[DataRequired(), Length(max=200)])
    address = TextAreaField(
        "Address", validators=[Optional(), Length(max=1000)], description="One line per line."
    )
    tax_id = StringField("Tax ID", validators=[Optional(), Length(max=64)], description="E.g. PL1234567890.")
    support_email = EmailField("Support e-mail", validators=[Optional(), EmailAddress(), Length(max=254)])
    support_phone = StringField("Support phone", validators=[Optional(), Length(max=40)])
    payment_instructions = TextAreaField(
        "Bank details for transfers",
        validators=[Optional(), Length(max=1000)],
        description="Printed on invoices that are not charged to a card: account holder, IBAN, BIC.",
    )
    invoice_prefix = StringField(
        "Invoice number prefix",
        validators=[Optional(), Length(max=16)],
        description="Optional, e.g. NW- gives NW-2026-10-00042. Used from the next invoice issued.",
    )
    payment_terms_days = IntegerField(
        "Payment terms (days)",
        validators=[InputRequired(message="Enter a number of days, e.g. 14."), NumberRange(0, 365)],
        description="An invoice is due this many days after it is issued.",
    )
    logo = FileField("Logo", description="PNG or JPEG, at most 1 MB. Leave empty to keep the current one.")
    remove_logo = BooleanField("Remove the current logo")
    submit = SubmitField("Save profile")


class TaxRateForm(FlaskForm):
    name = StringField("Name", validators=[DataRequired(), Length(max=100)], description="E.g. VAT.")
    percentage = StringField(
        "Rate (%)",
        validators=[DataRequired(), Length(max=20)],
        description="From 0 to 100, at most four decimals, e.g. 23 or 7.6250.",
    )
    inclusive = BooleanField("Included in the prices (otherwise added on top)")
    jurisdiction = StringField(
        "Jurisdiction", validators=[DataRequired(), Length(max=100)], description="E.g. PL, DE-BY or Ontario."
    )
    submit = SubmitField("Add the tax rate")


class ClientTaxForm(FlaskForm):
    tax_rate = SelectField("Tax rate", choices=[], validate_choice=False)
    exempt = BooleanField("Exempt from tax")
    exemption_note = StringField(
        "Why exempt",
        validators=[Optional(), Length(max=500)],
        description="E.g. the exemption certificate number; printed in the books.",
    )
    submit = SubmitField("Save tax setting")
