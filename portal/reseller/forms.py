"""Forms of the reseller console. Every change is a POST with a CSRF token; filters are GET forms."""

from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import Field, SelectField, StringField, SubmitField, TextAreaField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, Length, Optional, ValidationError

from metering import MAX_HOLD_REASON, MAX_SPLA_REFERENCE, parse_period
from portal.errors import InvalidInput


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
