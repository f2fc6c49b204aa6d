"""The notice preferences form: one box per optional notice."""

from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import Field, Form, SubmitField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import ValidationError

from portal.notices.models import OPTIONAL_KINDS
from portal.orders.forms import MultiCheckboxField


def _only_listed(form: Form, field: Field) -> None:
    # WTForms' own message quotes every value sent, however long: say it in plain words instead.
    listed = {kind.value for kind in OPTIONAL_KINDS}
    if any(value not in listed for value in field.data or []):
        raise ValidationError("Choose only among the notices listed.")


class PreferencesForm(FlaskForm):
    wanted = MultiCheckboxField(
        "E-mail me when",
        choices=[SelectChoice(kind.value, label) for kind, label in OPTIONAL_KINDS.items()],
        description="Notices about failures, invoices and suspensions are always sent.",
        validate_choice=False,
        validators=[_only_listed],
    )
    submit = SubmitField("Save")
