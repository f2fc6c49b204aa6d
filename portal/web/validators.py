"""Form validators shared by several features."""

from __future__ import annotations

import unicodedata

from email_validator import EmailNotValidError, validate_email
from flask_wtf import FlaskForm
from wtforms import Field
from wtforms.validators import ValidationError

from portal.accounts.end_user_services import upn_problem


class EmailAddress:
    """A syntactically valid e-mail address that mail can be sent to.

    It accepts internal domains (``corp.internal``, ``acme.example``) but rejects special-use names
    such as ``.local`` and ``.test`` that no mail server delivers to; for sign-in names that may
    live on such a domain, use :class:`UserPrincipalName`.
    """

    def __call__(self, form: FlaskForm, field: Field) -> None:
        if not field.data:
            return
        try:
            validate_email(field.data, check_deliverability=False, globally_deliverable=False)
        except EmailNotValidError as error:
            raise ValidationError(f"Not a valid e-mail address: {error}") from None


class UserPrincipalName:
    """An e-mail address or an Active Directory user principal name (``alice@corp.local``).

    MSP clients' people often sign in with a UPN whose suffix is an internal, special-use domain
    (``.local``, ``.lan``, a single label) that :class:`EmailAddress` rightly refuses for mail. The
    part before the @ follows the same rules as an e-mail address; the suffix must be a DNS name.
    """

    def __call__(self, form: FlaskForm, field: Field) -> None:
        if not field.data:
            return
        problem = upn_problem(field.data)
        if problem:
            raise ValidationError(problem)


class PrintableText:
    """Text without control characters (a NUL, a bell, an escape): what a name or a label may hold.

    Nobody types them on purpose, PostgreSQL refuses a NUL in any text column, and the others would
    end up in e-mails and CSV exports. Line breaks and tabs are refused too: these are one-line fields.
    """

    def __call__(self, form: FlaskForm, field: Field) -> None:
        if field.data and any(unicodedata.category(char) == "Cc" for char in str(field.data)):
            raise ValidationError("Use letters, digits, spaces and punctuation only (no control characters).")
