from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import HiddenField, StringField, SubmitField
from wtforms.validators import DataRequired, Optional, ValidationError

from portal.money import parse_amount


class AmountField(StringField):
    """A money amount typed as '39.00'; ``minor`` holds the parsed integer minor units."""

    minor: int | None = None

    def pre_validate(self, form: FlaskForm) -> None:
        try:
            self.minor = parse_amount(self.data or "")
        except ValueError as error:
            raise ValidationError(str(error)) from None


FROM_MONTH_HELP = "YYYY-MM; empty: the next month. A month with finalized invoices cannot change."


class PriceForm(FlaskForm):
    price = AmountField("Monthly price", validators=[DataRequired()])
    # Checked by metering.change_price (a month, and none with finalized invoices).
    from_month = StringField("From month", validators=[Optional()], description=FROM_MONTH_HELP)
    submit = SubmitField("Save")


class SkuCostForm(FlaskForm):
    cost = AmountField("Monthly SPLA cost", validators=[DataRequired()])
    from_month = StringField("From month", validators=[Optional()], description=FROM_MONTH_HELP)
    submit = SubmitField("Save")


class PlacementForm(FlaskForm):
    # Checked by portal.catalog.services.checked_placement (known SKU codes) and metering's month rule.
    skus = StringField(
        "Licences per user",
        validators=[Optional()],
        description="SKU codes separated by commas, e.g. WINRDS-SAL, OFFSTD-SAL; empty: no licence.",
    )
    from_month = StringField("From month", validators=[Optional()], description=FROM_MONTH_HELP)
    # Set by the confirmation page: the first submit only shows what would change.
    confirmed = HiddenField()
    submit = SubmitField("Review change")

    @property
    def sku_codes(self) -> list[str]:
        return [code for code in (self.skus.data or "").replace(",", " ").split() if code]
