"""Forms of the console's PSA pages: which agreement a client bills on, which catalog item a product is."""

from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import SelectField, SubmitField
from wtforms.validators import InputRequired


class ClientAgreementForm(FlaskForm):
    """Choices are the PSA's agreements ("Company: Agreement"), read from the PSA as the page is drawn."""

    agreement = SelectField("Agreement", coerce=int, validators=[InputRequired("Pick an agreement.")])
    submit = SubmitField("Save")


class ProductItemForm(FlaskForm):
    """Choices are the PSA's catalog items, read from the PSA as the page is drawn."""

    item = SelectField("Catalog item", coerce=int, validators=[InputRequired("Pick a catalog item.")])
    submit = SubmitField("Save")


class SyncAgainForm(FlaskForm):
    submit = SubmitField("Sync again")


class OverwriteForm(FlaskForm):
    submit = SubmitField("Overwrite the PSA")
