"""The console's webhook forms: an endpoint's settings, and the buttons that change one."""

from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import BooleanField, StringField, SubmitField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, Length

from portal.orders.forms import MultiCheckboxField
from portal.webhooks_out.services import EVENT_TYPES, MAX_DESCRIPTION, MAX_URL, EndpointSettings


class EndpointForm(FlaskForm):
    url = StringField(
        "URL",
        validators=[DataRequired(message="Enter the endpoint's URL."), Length(max=MAX_URL)],
        description="https://… — receives a POST for each event. Redirects are not followed.",
    )
    description = StringField("Description", validators=[Length(max=MAX_DESCRIPTION)])
    event_types = MultiCheckboxField(
        "Events",
        choices=[SelectChoice(name, f"{name} — {meaning}") for name, meaning in EVENT_TYPES.items()],
        description="None ticked: every event.",
    )
    allow_private = BooleanField(
        "Allow private addresses",
        description=(
            "Warning: lets this URL reach loopback, link-local and private addresses, i.e. machines inside "
            "your own network. Tick it only for a receiver you run there yourself."
        ),
    )
    submit = SubmitField("Save")

    def settings(self) -> EndpointSettings:
        return EndpointSettings(
            url=self.url.data or "",
            description=self.description.data or "",
            event_types=tuple(self.event_types.data or ()),
            allow_private=bool(self.allow_private.data),
        )


class EndpointActionForm(FlaskForm):
    """A button that changes an endpoint (disable, enable, test, redeliver): only the CSRF token."""

    submit = SubmitField("Go")
