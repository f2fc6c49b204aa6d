"""A reseller with three clients billed for October (one taxed), connected to the QuickBooks stand-in.

Acme Law pays 23 % VAT on top; Bright Smile gets a credit note; Ledgerline pays by transfer.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from sqlalchemy import select

from metering import (
    Account,
    QuickBooksConnection,
    authorization_url,
    choose_sync_settings,
    complete_connection,
    parse_period,
    quickbooks_settings,
)
from metering.billing.models import Invoice
from metering.credits.models import CreditNote, Payment, PaymentMethod
from metering.credits.payments import record_payment
from metering.credits.services import issue_credit_note
from metering.tax.services import create_tax_rate, set_client_tax
from portal.accounts.models import Client
from portal.db import db, utcnow
from tests.metering.months import TESTS, Month, event
from tests.standins.quickbooks import QuickBooksStandIn


def consent(stand_in: QuickBooksStandIn, url: str) -> dict[str, str]:
    """What a person does on Intuit's page: press Connect. Returns the redirect's code, state and realmId."""
    query = {k: v[-1] for k, v in parse_qs(urlsplit(url).query).items()}
    page = requests.get(url, timeout=10)
    assert page.status_code == 200, page.text
    answer = requests.post(
        f"{stand_in.base_url}/connect/oauth2", data=query, allow_redirects=False, timeout=10
    )
    assert answer.status_code == 302, answer.text
    location = answer.headers["Location"]
    return {k: v[-1] for k, v in parse_qs(urlsplit(location).query).items()}


@dataclass
class Books:
    invoices: dict[str, Invoice]
    credit_note: CreditNote
    payment: Payment


@pytest.fixture
def books(month: Month, make_client, travel) -> Books:
    clients = {
        "acme": make_client("acme", "Acme Law LLP"),
        "bright": make_client("bright", "Bright Smile Dental"),
        "ledger": make_client("ledger", "Ledgerline Accountants"),
    }
    clients["ledger"].billing_email = "books@ledgerline.example"
    vat = create_tax_rate(TESTS, "VAT", "23", False, "PL")
    set_client_tax(TESTS, clients["acme"], vat.id, False, None)
    db.session.commit()
    month.events(
        event("a1", "acme", "alice@acme.example", "desktop", "start", "2026-10-03T09:00:00Z"),
        event("a2", "acme", "bob@acme.example", "desktop", "start", "2026-10-04T09:00:00Z"),
        event("b1", "bright", "dana@bright.example", "desktop", "start", "2026-10-05T09:00:00Z"),
        event("l1", "ledger", "henry@ledger.example", "desktop", "start", "2026-10-06T09:00:00Z"),
    )
    travel("2026-11-02T12:00:00Z")
    month.close("2026-10")
    month.finalize("2026-10")
    db.session.expire_all()
    invoices = {
        ref: db.session.scalars(select(Invoice).where(Invoice.client_id == client.id)).one()
        for ref, client in clients.items()
    }
    note = issue_credit_note(
        TESTS, invoices["bright"], "Desktop down for two days", utcnow(), amount_minor=500
    )
    payment = record_payment(
        TESTS,
        invoices["ledger"],
        invoices["ledger"].total_minor,
        PaymentMethod.TRANSFER,
        utcnow().date(),
        "SEPA 2026-11-02",
        utcnow(),
    )
    db.session.commit()
    return Books(invoices=invoices, credit_note=note, payment=payment)


@pytest.fixture
def qbo_app(app, quickbooks: QuickBooksStandIn, monkeypatch: pytest.MonkeyPatch):
    app.config.update(quickbooks.settings())
    # requests-oauthlib refuses plain http unless told; the stand-in serves http on 127.0.0.1.
    monkeypatch.setenv("OAUTHLIB_INSECURE_TRANSPORT", "1")
    return app


@pytest.fixture
def connected(qbo_app, quickbooks: QuickBooksStandIn, books: Books) -> QuickBooksConnection:
    """Connected through the OAuth flow (services, no browser), products posting to "Services"."""
    settings = quickbooks_settings()
    assert settings is not None
    url, state = authorization_url(settings)
    answer = consent(quickbooks, url)
    assert answer["state"] == state
    connection = complete_connection(TESTS, settings, answer["code"], answer["realmId"], utcnow())
    choose_sync_settings(TESTS, connection, Account("1", "Services"), parse_period("2026-10"))
    db.session.commit()
    return connection


def client_named(name: str) -> Client:
    return db.session.scalars(select(Client).where(Client.name == name)).one()
