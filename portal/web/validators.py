"""Form validators shared by several features."""

from __future__ import annotations

from email_validator import EmailNotValidError, validate_email
from flask_wtf import FlaskForm
from wtforms import Field
from wtforms.validators import ValidationError


class EmailAddress:
    """A syntactically valid e-mail address or UPN.

    Unlike WTForms' ``Email()``, it accepts internal and special-use domains (``corp.local``,
    ``acme.example``): MSP clients' user principal names often live on such domains.
    """

    def __call__(self, form: FlaskForm, field: Field) -> None:
        if not field.data:
            return
        try:
            validate_email(field.data, check_deliverability=False, globally_deliverable=False)
        except EmailNotValidError as error:
            raise ValidationError(f"Not a valid e-mail address: {error}") from None
