"""Forms of the console's QuickBooks page."""

from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import SelectField, StringField, SubmitField
from wtforms.validators import DataRequired, Length, Regexp


class SyncSettingsForm(FlaskForm):
    account = SelectField(
        "Income account for Seatmeter's products",
        validators=[DataRequired(message="Pick the account the sales post to.")],
        choices=[],
        validate_choice=False,  # checked against QuickBooks' list by the view, with a plain message
    )
    first_period = StringField(
        "First month to send",
        validators=[
            DataRequired(message="Give a month such as 2026-10."),
            Length(max=7),
            Regexp(r"^\d{4}-(0[1-9]|1[0-2])$", message="Write the month as YYYY-MM, e.g. 2026-10."),
        ],
        description="Invoices of this month and later go to QuickBooks; earlier ones stay with the exports.",
    )
    submit = SubmitField("Save")
