"""The reseller's profile (the seller on every invoice) and a client's billing details (the buyer).

Services flush and never commit. Everything a person types is checked here, so the console page,
the client's page and any later API refuse the same things with the same words.
"""

from __future__ import annotations

import io
import re
import warnings
from dataclasses import dataclass

from email_validator import EmailNotValidError, validate_email
from PIL import Image, UnidentifiedImageError

from portal.accounts.models import Client, Reseller
from portal.accounts.services import ensure_reseller, normalize_email
from portal.audit.services import Actor, record
from portal.db import db
from portal.errors import InvalidInput

MAX_LOGO_BYTES = 1024 * 1024
_LOGO_FORMATS = {"PNG": "image/png", "JPEG": "image/jpeg"}
MAX_PAYMENT_TERMS_DAYS = 365
MAX_EXTRA_BILLING_EMAILS = 5
_PREFIX_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9/_-]{0,15}$")
_LIMITS = {
    "name": 200,
    "address": 1000,
    "tax_id": 64,
    "support_email": 254,
    "support_phone": 40,
    "payment_instructions": 1000,
    "billing_address": 1000,
}
_LABELS = {
    "name": "The legal name",
    "address": "The address",
    "tax_id": "The tax ID",
    "support_email": "The support e-mail",
    "support_phone": "The support phone",
    "payment_instructions": "The payment instructions",
    "billing_address": "The billing address",
}


def _text(field: str, value: str | None, required: bool = False) -> str | None:
    text = (value or "").strip()
    if not text:
        if required:
            raise InvalidInput(f"{_LABELS[field]} is required.", fields={field: "Required."})
        return None
    if len(text) > _LIMITS[field]:
        raise InvalidInput(
            f"{_LABELS[field]} is too long (at most {_LIMITS[field]:,} characters).",
            fields={field: f"At most {_LIMITS[field]:,} characters."},
        )
    return text


def _email(field: str, value: str | None) -> str | None:
    text = (value or "").strip()
    if not text:
        return None
    try:
        validate_email(text, check_deliverability=False, globally_deliverable=False)
    except EmailNotValidError:
        raise InvalidInput(
            f"“{text[:40]}” is not a valid e-mail address.", fields={field: "Not a valid e-mail address."}
        ) from None
    return normalize_email(text)


def logo_mimetype(data: bytes) -> str:
    """The logo's MIME type, after checking it is a real PNG or JPEG of at most 1 MB."""
    if len(data) > MAX_LOGO_BYTES:
        raise InvalidInput(
            f"The logo is {len(data) / (1024 * 1024):.1f} MB; it may be at most 1 MB.",
            fields={"logo": "At most 1 MB."},
        )
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as image:
                kind = image.format
                image.verify()
    except (UnidentifiedImageError, Image.DecompressionBombError, Image.DecompressionBombWarning):
        kind = None
    except (OSError, SyntaxError, ValueError):  # what a truncated or corrupt image raises in verify()
        kind = None
    if kind not in _LOGO_FORMATS:
        raise InvalidInput(
            "The logo must be a PNG or JPEG image; that file is not one.",
            fields={"logo": "Choose a PNG or JPEG image."},
        )
    return _LOGO_FORMATS[kind]


@dataclass(frozen=True)
class ResellerProfile:
    """What the profile page sends; ``logo`` None keeps the current one."""

    name: str | None
    address: str | None = None
    tax_id: str | None = None
    support_email: str | None = None
    support_phone: str | None = None
    payment_instructions: str | None = None
    invoice_prefix: str | None = None
    payment_terms_days: int | None = None
    logo: bytes | None = None
    remove_logo: bool = False


def update_reseller_profile(actor: Actor, profile: ResellerProfile) -> Reseller:
    """Check everything first, then change the profile; a refusal changes nothing."""
    name = _text("name", profile.name, required=True)
    prefix = (profile.invoice_prefix or "").strip()
    if prefix and not _PREFIX_RE.match(prefix):
        raise InvalidInput(
            "The invoice number prefix may have up to 16 letters, digits, '-', '_' or '/', "
            "starting with a letter or digit.",
            fields={"invoice_prefix": "Letters, digits, '-', '_' or '/', at most 16."},
        )
    terms = profile.payment_terms_days
    if terms is None or not 0 <= terms <= MAX_PAYMENT_TERMS_DAYS:
        raise InvalidInput(
            f"Payment terms must be a number of days from 0 to {MAX_PAYMENT_TERMS_DAYS}.",
            fields={"payment_terms_days": f"From 0 to {MAX_PAYMENT_TERMS_DAYS} days."},
        )
    values = {
        "name": name,
        "address": _text("address", profile.address),
        "tax_id": _text("tax_id", profile.tax_id),
        "support_email": _email("support_email", profile.support_email),
        "support_phone": _text("support_phone", profile.support_phone),
        "payment_instructions": _text("payment_instructions", profile.payment_instructions),
        "invoice_prefix": prefix,
        "payment_terms_days": terms,
    }
    mimetype = logo_mimetype(profile.logo) if profile.logo else None

    reseller = ensure_reseller()
    changed = sorted(key for key, value in values.items() if getattr(reseller, key) != value)
    for key, value in values.items():
        setattr(reseller, key, value)
    if profile.logo and mimetype:
        reseller.logo, reseller.logo_mimetype = profile.logo, mimetype
        changed.append("logo")
    elif profile.remove_logo and reseller.logo is not None:
        reseller.logo, reseller.logo_mimetype = None, None
        changed.append("logo removed")
    db.session.flush()
    if changed:
        record(actor, "reseller.profile_changed", "reseller", reseller.id, details={"changed": changed})
    return reseller


def _email_list(value: str | None) -> str | None:
    addresses = [part for part in re.split(r"[\s,;]+", value or "") if part]
    if len(addresses) > MAX_EXTRA_BILLING_EMAILS:
        raise InvalidInput(
            f"At most {MAX_EXTRA_BILLING_EMAILS} further billing e-mail addresses.",
            fields={"extra_billing_emails": f"At most {MAX_EXTRA_BILLING_EMAILS}."},
        )
    checked = [_email("extra_billing_emails", address) for address in addresses]
    return "\n".join(address for address in checked if address) or None


def update_client_billing(
    actor: Actor,
    client: Client,
    billing_email: str | None,
    extra_billing_emails: str | None,
    billing_address: str | None,
    tax_id: str | None,
) -> Client:
    """Where the client's invoices go and what they say about the buyer. A refusal changes nothing."""
    values = {
        "billing_email": _email("billing_email", billing_email),
        "extra_billing_emails": _email_list(extra_billing_emails),
        "billing_address": _text("billing_address", billing_address),
        "tax_id": _text("tax_id", tax_id),
    }
    changed = sorted(key for key, value in values.items() if getattr(client, key) != value)
    for key, value in values.items():
        setattr(client, key, value)
    db.session.flush()
    if changed:
        record(
            actor,
            "client.billing_details_changed",
            "client",
            client.id,
            client_id=client.id,
            details={"changed": changed},
        )
    return client
