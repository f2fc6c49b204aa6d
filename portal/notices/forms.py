"""The notice preferences form: one box per optional notice."""

from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import SubmitField
from wtforms.fields.choices import SelectChoice

from portal.notices.models import OPTIONAL_KINDS
from portal.orders.forms import MultiCheckboxField


class PreferencesForm(FlaskForm):
    wanted = MultiCheckboxField(
        "E-mail me when",
        choices=[SelectChoice(kind.value, label) for kind, label in OPTIONAL_KINDS.items()],
        description="Notices about failures, invoices and suspensions are always sent.",
    )
    submit = SubmitField("Save")
