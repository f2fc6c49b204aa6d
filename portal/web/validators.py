"""Form validators shared by several features."""

from __future__ import annotations

import re

from email_validator import EmailNotValidError, validate_email
from email_validator.syntax import validate_email_local_part
from flask_wtf import FlaskForm
from wtforms import Field
from wtforms.validators import ValidationError


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


# One DNS label: letters, digits and inner hyphens, at most 63 characters.
_LABEL = r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?"
_UPN_SUFFIX = re.compile(rf"(?=.{{1,253}}\Z){_LABEL}(?:\.{_LABEL})*", re.IGNORECASE)


class UserPrincipalName:
    """An e-mail address or an Active Directory user principal name (``alice@corp.local``).

    MSP clients' people often sign in with a UPN whose suffix is an internal, special-use domain
    (``.local``, ``.lan``, a single label) that :class:`EmailAddress` rightly refuses for mail. The
    part before the @ follows the same rules as an e-mail address; the suffix must be a DNS name.
    """

    def __call__(self, form: FlaskForm, field: Field) -> None:
        if not field.data:
            return
        local, at, suffix = field.data.strip().rpartition("@")
        if not at or not local:
            raise ValidationError("Write it as name@domain, e.g. alice@acme.com or alice@corp.local.")
        try:
            validate_email_local_part(local, allow_smtputf8=False)
        except EmailNotValidError as error:
            raise ValidationError(f"Not a valid e-mail address or UPN: {error}") from None
        if not _UPN_SUFFIX.fullmatch(suffix):
            raise ValidationError(
                "The part after the @ must be a domain name of letters, digits, hyphens and dots."
            )
