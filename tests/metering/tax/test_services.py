"""Tax rates and each client's tax setting, and how the month close applies them to the lines."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from metering.tax.models import TaxRate
from metering.tax.services import create_tax_rate, parse_percentage, set_client_tax
from portal.db import db
from portal.errors import InvalidInput
from tests.metering.months import TESTS, event


@pytest.mark.parametrize(
    ("typed", "ppm"),
    [
        ("23", 230_000),
        ("7.5", 75_000),
        ("19,1234 %", 191_234),
        ("0", 0),
        ("100", 1_000_000),
        (" 5.25% ", 52_500),
    ],
)
def test_percentages_people_type(typed, ppm):
    assert parse_percentage(typed) == ppm


@pytest.mark.parametrize("typed", ["150", "100.0001", "abc", "", "-1", "23.12345", "1e2", "23..1"])
def test_what_is_not_a_tax_rate_is_refused_in_plain_words(app, typed):
    with pytest.raises(InvalidInput) as refused:
        create_tax_rate(TESTS, "VAT", typed, False, "PL")

    assert refused.value.fields["percentage"]
    assert db.session.scalar(select(func.count()).select_from(TaxRate)) == 0


def test_150_percent_says_what_is_allowed(app):
    with pytest.raises(
        InvalidInput, match=r"A tax rate of 150 % is not possible: it must be between 0 and 100 %"
    ):
        create_tax_rate(TESTS, "VAT", "150", False, "PL")


def _october(month, travel, make_client):
    acme = make_client("acme", "Acme Law LLP")
    month.events(
        event("e1", "acme", "alice@acme.example", "desktop", "start", "2026-10-03T09:00:00Z"),
        event("e2", "acme", "bob@acme.example", "exchange", "start", "2026-10-04T09:00:00Z"),
    )
    travel("2026-11-02T12:00:00Z")
    return acme


def test_an_inclusive_rate_is_shown_but_not_added(month, travel, make_client):
    acme = _october(month, travel, make_client)
    rate = create_tax_rate(TESTS, "MwSt", "19", True, "DE")
    set_client_tax(TESTS, acme, rate.id, False, None)
    db.session.commit()

    month.close("2026-10")
    invoice = month.invoice_row(acme.id, "2026-10")

    # 39.00 holds 39 x 0.19 / 1.19 = 6.2268 → 6.23; 8.00 holds 1.2773 → 1.28.
    assert [line.tax_minor for line in invoice.lines] == [623, 128]
    assert (invoice.subtotal_minor, invoice.tax_minor, invoice.total_minor) == (4700, 751, 4700)
    assert {line.tax_inclusive for line in invoice.lines} == {True}


def test_an_exempt_client_pays_no_tax_and_must_say_why(month, travel, make_client):
    acme = _october(month, travel, make_client)
    rate = create_tax_rate(TESTS, "VAT", "23", False, "PL")
    with pytest.raises(InvalidInput, match="Say why the client is exempt"):
        set_client_tax(TESTS, acme, rate.id, True, "  ")
    set_client_tax(TESTS, acme, rate.id, True, "Certificate EX-2026-114")
    db.session.commit()

    month.close("2026-10")
    invoice = month.invoice_row(acme.id, "2026-10")

    assert (invoice.subtotal_minor, invoice.tax_minor, invoice.total_minor) == (4700, 0, 4700)
    assert {line.tax_name for line in invoice.lines} == {None}


def test_a_changed_setting_rebuilds_the_draft_and_never_an_issued_invoice(month, travel, make_client):
    acme = _october(month, travel, make_client)
    month.close("2026-10")
    assert month.invoice_row(acme.id, "2026-10").total_minor == 4700

    rate = create_tax_rate(TESTS, "VAT", "23", False, "PL")
    set_client_tax(TESTS, acme, rate.id, False, None)
    db.session.commit()
    month.close("2026-10")
    assert month.invoice_row(acme.id, "2026-10").total_minor == 4700 + 897 + 184

    month.finalize("2026-10")
    set_client_tax(TESTS, acme, None, False, None)
    db.session.commit()
    db.session.expire_all()
    issued = month.invoice_row(acme.id, "2026-10")
    assert issued.total_minor == 4700 + 897 + 184 and issued.lines[0].tax_name == "VAT"
