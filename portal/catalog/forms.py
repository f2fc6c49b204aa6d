from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import StringField, SubmitField
from wtforms.validators import DataRequired, ValidationError

from portal.money import parse_amount


class AmountField(StringField):
    """A money amount typed as '39.00'; ``minor`` holds the parsed integer minor units."""

    minor: int | None = None

    def pre_validate(self, form: FlaskForm) -> None:
        try:
            self.minor = parse_amount(self.data or "")
        except ValueError as error:
            raise ValidationError(str(error)) from None


class PriceForm(FlaskForm):
    price = AmountField("Monthly price", validators=[DataRequired()])
    submit = SubmitField("Save")


class SkuCostForm(FlaskForm):
    cost = AmountField("Monthly SPLA cost", validators=[DataRequired()])
    submit = SubmitField("Save")
