"""Forms of the console's Integrations pages (RMM and PSA tools that report usage)."""

from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import SelectField, StringField, SubmitField
from wtforms.validators import DataRequired, Length

from metering import SnapshotAggregate


class IntegrationForm(FlaskForm):
    source = StringField(
        "Source name",
        validators=[DataRequired(message="Give the name the tool sends as “source”."), Length(max=64)],
        description="Lowercase, e.g. ninjaone; the tool's snapshots name it as their source.",
    )
    name = StringField(
        "Tool",
        validators=[DataRequired(message="Say which tool it is."), Length(max=200)],
        description="e.g. NinjaOne RMM",
    )
    submit = SubmitField("Add the integration")


class MappingForm(FlaskForm):
    external_org = StringField(
        "Organisation or site id",
        validators=[DataRequired(message="Give the id as the tool sends it."), Length(max=200)],
    )
    client = SelectField("Client", validators=[DataRequired(message="Choose the client.")], choices=[])
    submit = SubmitField("Map")


class TokenForm(FlaskForm):
    name = StringField(
        "Token name",
        validators=[DataRequired(message="Say what uses the token."), Length(max=100)],
        description="e.g. NinjaOne nightly script",
    )
    submit = SubmitField("Create a token")


class DeviceRuleForm(FlaskForm):
    aggregate = SelectField(
        "Bill the month's",
        choices=[(SnapshotAggregate.PEAK.value, "peak"), (SnapshotAggregate.AVERAGE.value, "average")],
    )
    submit = SubmitField("Save")
