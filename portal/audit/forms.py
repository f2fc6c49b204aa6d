"""The audit log's filters: who, what, which client, and when (a range of dates, in UTC)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from flask_wtf import FlaskForm
from wtforms import DateField, StringField, SubmitField
from wtforms.validators import Length, Optional, ValidationError

from metering import parse_day
from portal.errors import InvalidInput


class DayField(DateField):
    """A date read with metering's parser: the same range of months as every month box.

    WTForms' own parsing takes 9999-12-31, and the day after it (the end of the range) does not exist.
    """

    def process_formdata(self, valuelist: Sequence[Any]) -> None:
        if not valuelist or not str(valuelist[0]).strip():
            self.data = None
            return
        try:
            self.data = parse_day(str(valuelist[0]), self.name)
        except InvalidInput as error:
            self.data = None
            raise ValueError(error.fields.get(self.name, error.message)) from None


class AuditFilterForm(FlaskForm):
    """Read from the query string: a filter changes nothing, so it carries no CSRF token."""

    class Meta:
        csrf = False

    actor = StringField("Who", validators=[Optional(), Length(max=300)])
    action = StringField("What", validators=[Optional(), Length(max=64)])
    client = StringField("Client", validators=[Optional(), Length(max=32)])
    since = DayField("From", validators=[Optional()], description="YYYY-MM-DD, UTC")
    until = DayField("To", validators=[Optional()], description="included")
    submit = SubmitField("Filter")

    def validate_until(self, field: DateField) -> None:
        if field.data and self.since.data and field.data < self.since.data:
            raise ValidationError("Must be on or after the first date.")
