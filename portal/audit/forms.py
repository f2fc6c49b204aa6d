"""The audit log's filters: who, what, which client, and when (a range of dates, in UTC)."""

from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import DateField, StringField, SubmitField
from wtforms.validators import Length, Optional, ValidationError


class AuditFilterForm(FlaskForm):
    """Read from the query string: a filter changes nothing, so it carries no CSRF token."""

    class Meta:
        csrf = False

    actor = StringField("Who", validators=[Optional(), Length(max=300)])
    action = StringField("What", validators=[Optional(), Length(max=64)])
    client = StringField("Client", validators=[Optional(), Length(max=32)])
    since = DateField("From", validators=[Optional()], description="YYYY-MM-DD, UTC")
    until = DateField("To", validators=[Optional()], description="included")
    submit = SubmitField("Filter")

    def validate_until(self, field: DateField) -> None:
        if field.data and self.since.data and field.data < self.since.data:
            raise ValidationError("Must be on or after the first date.")
