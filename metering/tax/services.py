"""Defining tax rates and setting which one a client pays. Services flush; the edge commits."""

from __future__ import annotations

import re
from dataclasses import dataclass

from sqlalchemy import select

from metering.rating import TaxRule
from metering.tax.models import MAX_RATE_PPM, PPM_PER_PERCENT, ClientTax, TaxRate, format_rate
from portal.accounts.models import Client
from portal.audit.services import Actor, record
from portal.db import db
from portal.errors import InvalidInput, NotFound

_PERCENT_RE = re.compile(r"^\s*([0-9]{1,3})(?:[.,]([0-9]{1,4}))?\s*%?\s*$")
MAX_TAX_NAME = 100
MAX_JURISDICTION = 100
MAX_EXEMPTION_NOTE = 500


def parse_percentage(text: str | None, field: str = "percentage") -> int:
    """ "23", "7.5", "19,1234 %" → parts per million; anything else, or above 100 %, is InvalidInput."""
    match = _PERCENT_RE.match(text or "")
    if match is None:
        raise InvalidInput(
            f"“{(text or '').strip()[:20]}” is not a percentage: write a number such as 23 or 7.5 "
            "(at most four decimals).",
            fields={field: "Write a number such as 23 or 7.5 (at most four decimals)."},
        )
    whole, fraction = match.group(1), (match.group(2) or "").ljust(4, "0")
    rate_ppm = int(whole) * PPM_PER_PERCENT + int(fraction)
    if rate_ppm > MAX_RATE_PPM:
        raise InvalidInput(
            f"A tax rate of {format_rate(rate_ppm)} % is not possible: it must be between 0 and 100 %.",
            fields={field: "Must be between 0 and 100 %."},
        )
    return rate_ppm


def _required(value: str | None, field: str, label: str, limit: int) -> str:
    text = (value or "").strip()
    if not text:
        raise InvalidInput(f"{label} is required.", fields={field: "Required."})
    if len(text) > limit:
        raise InvalidInput(f"{label} is too long (at most {limit} characters).", fields={field: "Too long."})
    return text


def list_tax_rates() -> list[TaxRate]:
    return list(db.session.scalars(select(TaxRate).order_by(TaxRate.jurisdiction, TaxRate.name)))


def get_tax_rate(tax_rate_id: int) -> TaxRate:
    rate = db.session.get(TaxRate, tax_rate_id)
    if rate is None:
        raise NotFound("No such tax rate.")
    return rate


def create_tax_rate(
    actor: Actor, name: str | None, percentage: str | None, inclusive: bool, jurisdiction: str | None
) -> TaxRate:
    """A new rate. Rates are never edited (invoices and Stripe keep the figures they used): add a new one."""
    rate = TaxRate(
        name=_required(name, "name", "The name", MAX_TAX_NAME),
        rate_ppm=parse_percentage(percentage),
        inclusive=bool(inclusive),
        jurisdiction=_required(jurisdiction, "jurisdiction", "The jurisdiction", MAX_JURISDICTION),
    )
    db.session.add(rate)
    db.session.flush()
    record(
        actor,
        "tax_rate.created",
        "tax_rate",
        rate.id,
        details={"label": rate.label, "jurisdiction": rate.jurisdiction},
    )
    return rate


def client_tax(client_id: int) -> ClientTax | None:
    return db.session.get(ClientTax, client_id)


def set_client_tax(
    actor: Actor, client: Client, tax_rate_id: int | None, exempt: bool, exemption_note: str | None
) -> ClientTax:
    """Which rate the client pays from its next invoice on, or that it is exempt (with the reason)."""
    note = (exemption_note or "").strip() or None
    if exempt and note is None:
        raise InvalidInput(
            "Say why the client is exempt (e.g. its exemption certificate), for the invoice and the books.",
            fields={"exemption_note": "Required when the client is exempt."},
        )
    if note is not None and len(note) > MAX_EXEMPTION_NOTE:
        raise InvalidInput("The exemption note is too long.", fields={"exemption_note": "Too long."})
    if tax_rate_id is not None:
        get_tax_rate(tax_rate_id)
    setting = client_tax(client.id)
    if setting is None:
        setting = ClientTax(client_id=client.id)
        db.session.add(setting)
    setting.tax_rate_id = tax_rate_id
    setting.exempt = bool(exempt)
    setting.exemption_note = note if exempt else None
    db.session.flush()
    record(
        actor,
        "client.tax_set",
        "client",
        client.id,
        client_id=client.id,
        details={"tax_rate_id": tax_rate_id, "exempt": setting.exempt},
    )
    return setting


@dataclass(frozen=True)
class ClientTaxRule:
    tax_rate_id: int
    rule: TaxRule


def tax_rules_by_client(client_id: int | None = None) -> dict[int, ClientTaxRule]:
    """The rate each client pays now (exempt clients and clients without a rate are absent)."""
    query = (
        select(ClientTax.client_id, TaxRate)
        .join(TaxRate, TaxRate.id == ClientTax.tax_rate_id)
        .where(ClientTax.exempt.is_(False))
    )
    if client_id is not None:
        query = query.where(ClientTax.client_id == client_id)
    return {
        owner: ClientTaxRule(rate.id, TaxRule(rate.name, rate.rate_ppm, rate.inclusive))
        for owner, rate in db.session.execute(query)
    }
