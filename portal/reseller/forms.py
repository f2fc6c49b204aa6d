"""Forms of the reseller console. Every change is a POST with a CSRF token; filters are GET forms."""

from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import Field, SelectField, SelectMultipleField, StringField, SubmitField, TextAreaField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, Length, Optional, ValidationError
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
