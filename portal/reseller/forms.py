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
    SelectMultipleField,
    StringField,
    SubmitField,
    TextAreaField,
)
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, InputRequired, Length, NumberRange, Optional, ValidationError
from wtforms.widgets import CheckboxInput, ListWidget

from metering import (
    MAX_CREDIT_REASON,
    MAX_HOLD_REASON,
    MAX_PAYMENT_REFERENCE,
    MAX_SPLA_REFERENCE,
    PaymentMethod,
    Settlement,
    parse_day,
    parse_period,
)
from portal.errors import InvalidInput
from portal.money import parse_amount
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


def _amount_above_zero(form: FlaskForm, field: Field) -> None:
    """An amount of money typed by a person: a number with at most two decimals, more than zero."""
    text = (field.data or "").strip()
    if not text:
        return
    try:
        minor = parse_amount(text)
    except ValueError as error:
        raise ValidationError(str(error)) from None
    if minor == 0:
        raise ValidationError("The amount must be more than zero.")


def _day(form: FlaskForm, field: Field) -> None:
    try:
        parse_day(field.data, field.name)
    except InvalidInput as error:
        raise ValidationError(error.fields.get(field.name, error.message)) from None


def amount_minor(field: Field) -> int | None:
    """The amount a validated form holds, in minor units; None when the box was left empty."""
    text = (field.data or "").strip()
    return parse_amount(text) if text else None


PAYMENT_METHODS = [
    SelectChoice(PaymentMethod.TRANSFER.value, "Bank transfer"),
    SelectChoice(PaymentMethod.CHEQUE.value, "Cheque"),
    SelectChoice(PaymentMethod.CASH.value, "Cash"),
    SelectChoice(PaymentMethod.OTHER.value, "Other"),
]


class PaymentForm(FlaskForm):
    amount = StringField(
        "Amount received",
        validators=[DataRequired(message="Enter the amount received."), _amount_above_zero],
        description="E.g. 120.50",
    )
    method = SelectField("How it came in", choices=PAYMENT_METHODS, default=PaymentMethod.TRANSFER.value)
    received_on = StringField(
        "Day received", validators=[DataRequired(message="Enter the day."), _day], description="YYYY-MM-DD"
    )
    reference = StringField(
        "Reference",
        validators=[Optional(), Length(max=MAX_PAYMENT_REFERENCE)],
        description="Optional: the bank's reference or the cheque number.",
    )
    submit = SubmitField("Record the payment")


SETTLEMENTS = [
    SelectChoice(Settlement.NEXT_INVOICE.value, "Keep it as credit for the client's next invoices"),
    SelectChoice(Settlement.REFUND_STRIPE.value, "Refund it to the card that paid (through Stripe)"),
    SelectChoice(Settlement.REFUNDED_OUTSIDE.value, "I pay it back myself (transfer, cheque)"),
]


class CreditNoteForm(FlaskForm):
    lines = SelectMultipleField(
        "Credit these lines in full",
        coerce=int,
        validate_choice=False,  # the service says which lines this invoice has
        widget=ListWidget(prefix_label=False),
        option_widget=CheckboxInput(),
    )
    amount = StringField(
        "Or credit an amount",
        validators=[Optional(), _amount_above_zero],
        description="Leave empty when you chose lines.",
    )
    reason = TextAreaField(
        "Reason",
        validators=[DataRequired(message="Say why; the client reads it."), Length(max=MAX_CREDIT_REASON)],
        description="Shown on the credit note, e.g. “Desktop unavailable on 3 and 4 November”.",
    )
    settlement = SelectField(
        "If the invoice is already paid",
        choices=SETTLEMENTS,
        default=Settlement.NEXT_INVOICE.value,
    )
    submit = SubmitField("Issue the credit note")
