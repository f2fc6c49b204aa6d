"""Forms of the client's order and seat pages.

Choices of end users are always filled in by the view from the current client's own people, so a
submitted id of another client's person fails validation like any unknown value.
"""

from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import (
    Field,
    HiddenField,
    IntegerField,
    SelectField,
    SelectMultipleField,
    SubmitField,
)
from wtforms.validators import InputRequired, NumberRange, ValidationError
from wtforms.widgets import CheckboxInput, ListWidget

from portal.accounts.models import EndUser
from provisioning import MAX_SEATS_PER_ORDER


class MultiCheckboxField(SelectMultipleField):
    """A multiple choice shown as a list of check boxes (easier than a multi-select to use)."""

    widget = ListWidget(prefix_label=False)
    option_widget = CheckboxInput()


def end_user_choices(end_users: list[EndUser]) -> list[tuple[int, str]]:
    return [(person.id, f"{person.name} <{person.email}>") for person in end_users]


class OrderForm(FlaskForm):
    quantity = IntegerField(
        "Number of seats",
        validators=[
            InputRequired("Say how many seats."),
            NumberRange(1, MAX_SEATS_PER_ORDER, f"From 1 to {MAX_SEATS_PER_ORDER} seats per order."),
        ],
        default=1,
    )
    end_users = MultiCheckboxField(
        "Assign to these people now (optional)",
        coerce=int,
        description="One seat each; the other seats stay unassigned until you assign them.",
    )
    submit = SubmitField("Review the order")

    def validate_end_users(self, field: Field) -> None:
        chosen = field.data or []
        if self.quantity.data is not None and len(chosen) > self.quantity.data:
            raise ValidationError(f"Choose at most {self.quantity.data}: one person per seat.")


class PlaceOrderForm(OrderForm):
    """The confirmation page's form: the same choices, sent again and checked again.

    ``quoted_unit_minor`` only tells whether the price changed since the confirmation was shown;
    the price of the order is always read from the catalog when it is placed.
    """

    quoted_unit_minor = HiddenField()
    nonce = HiddenField()
    submit = SubmitField("Place the order")


class AssignSeatForm(FlaskForm):
    end_user = SelectField("Person", coerce=int, validators=[InputRequired("Choose a person.")])
    submit = SubmitField("Assign")


class SeatActionForm(FlaskForm):
    """Unassign, cancel, retry: nothing to fill in beyond the CSRF token."""

    submit = SubmitField("Confirm")


class SeatCountForm(FlaskForm):
    count = IntegerField(
        "Number of seats",
        validators=[
            InputRequired("Say how many seats you want."),
            NumberRange(min=0, message="Zero or more."),
        ],
    )
    submit = SubmitField("Review the change")


class ReduceSeatsForm(FlaskForm):
    """The confirmation of cancelling the listed seats (ids checked against the client again)."""

    # Not a choice among options: the view looks every id up among the client's own seats (404).
    seat_ids = SelectMultipleField(coerce=int, validate_choice=False)
    submit = SubmitField("Cancel these seats")
