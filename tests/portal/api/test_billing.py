"""The billing API: usage events, month close and finalize, invoices (JSON, PDF), the SPLA report."""

from __future__ import annotations

import csv
import io
import uuid
from datetime import UTC, date, datetime

import pytest
import time_machine
from sqlalchemy import func, select

import metering.billing.close
from metering.billing.models import Invoice
from metering.credits.models import PaymentMethod
from metering.credits.payments import record_payment
from metering.spla.services import add_host
from metering.tax.services import create_tax_rate, set_client_tax
from portal.accounts.models import Role
from portal.api.models import IdempotencyKey
from portal.audit.services import Actor
from portal.catalog.services import get_sku
from portal.db import db, utcnow
from tests.portal.api.conftest import error_of

OCTOBER_EVENTS = [
    {"id": "e-1", "client": "acme", "user": "alice@acme.example", "product": "desktop", "action": "start",
     "at": "2026-10-03T09:00:00Z"},
    {"id": "e-2", "client": "acme", "user": "bob@acme.example", "product": "exchange", "action": "start",
     "at": "2026-10-10T09:00:00+02:00"},
    {"id": "e-3", "client": "bright", "user": "dana@bright.example", "product": "desktop-pro",
     "action": "start", "at": "2026-10-20T09:00:00Z"},
    {"id": "e-4", "client": "acme", "product": "voip-minutes", "action": "usage", "quantity": 250,
     "at": "2026-10-21T09:00:00Z"},
]  # fmt: skip


TESTS = Actor.system("tests")
# Finalized on 2 November (UTC, the tests' billing zone) with the default 14 days' terms.
DUE_ON = "2026-11-16"


@pytest.fixture
def after_october():
    with time_machine.travel("2026-11-02T12:00:00Z", tick=True):
        yield


@pytest.fixture
def october(reseller_api, acme, bright):
    response = reseller_api.post("/usage-events", {"events": OCTOBER_EVENTS})
    assert response.status_code == 202, response.get_json()
    return response


def test_usage_events_are_accepted_once(october, reseller_api):
    assert october.get_json() == {"accepted": 4, "duplicates": 0}

    again = reseller_api.post("/usage-events", {"events": OCTOBER_EVENTS[:2]})

    assert again.status_code == 202
    assert again.get_json() == {"accepted": 0, "duplicates": 2}


def test_a_bad_batch_is_422_with_an_error_per_bad_event_and_applies_nothing(reseller_api, acme):
    batch = [
        {"id": "ok-1", "client": "acme", "user": "a@acme.example", "product": "desktop", "action": "start",
         "at": "2026-10-03T09:00:00Z"},
        {"id": "bad-1", "client": "acme", "user": "a@acme.example", "product": "desktop", "action": "start",
         "at": "2026-10-03T09:00:00"},
        {"id": "bad-2", "client": "acme", "user": "b@acme.example", "product": "desktop", "action": "stop",
         "at": "2026-10-04T09:00:00Z"},
    ]  # fmt: skip

    response = reseller_api.post("/usage-events", {"events": batch})

    assert response.status_code == 422
    error = error_of(response)
    assert set(error["fields"]) == {"events[1]", "events[2]"}
    assert "offset" in error["fields"]["events[1]"]
    assert "no earlier start" in error["fields"]["events[2]"]
    # Nothing was applied: the good event is still new.
    retry = reseller_api.post("/usage-events", {"events": batch[:1]})
    assert retry.get_json() == {"accepted": 1, "duplicates": 0}


def test_usage_events_need_a_reseller_admin_token(acme_api, make_token, api_as):
    assert acme_api.post("/usage-events", {"events": []}).status_code == 403
    staff = api_as(make_token(Role.RESELLER_STAFF))
    assert staff.post("/usage-events", {"events": []}).status_code == 403
    assert api_as(None).post("/usage-events", {"events": []}).status_code == 401


def test_events_must_be_a_list(reseller_api):
    response = reseller_api.post("/usage-events", {"events": {"id": "x"}})

    assert response.status_code == 400
    assert "events" in error_of(response)["fields"]


def test_close_finalize_and_read_invoices(october, reseller_api, acme_api, after_october):
    closed = reseller_api.post("/billing/close", {"period": "2026-10"})
    assert closed.status_code == 200
    assert closed.get_json() == {"period": "2026-10", "clients": 2, "outcomes": {"created": 2}, "failed": {}}

    # Drafts: the reseller sees them, the client does not yet.
    assert len(reseller_api.get("/invoices?period=2026-10").get_json()["invoices"]) == 2
    assert acme_api.get("/invoices").get_json() == {"invoices": [], "next": None}

    finalized = reseller_api.post("/billing/finalize", {"period": "2026-10"})
    assert finalized.get_json() == {"period": "2026-10", "finalized": 2}

    (invoice,) = acme_api.get("/invoices?period=2026-10").get_json()["invoices"]
    assert invoice == {
        "id": invoice["id"],
        "client": "acme",
        "period": "2026-10",
        "status": "finalized",
        "state": "due",
        "currency": "USD",
        "subtotal_minor": 3900 + 800 + 500,
        "tax_minor": 0,
        "total_minor": 3900 + 800 + 500,
        "balance_minor": 3900 + 800 + 500,
        "due_on": DUE_ON,
        "lines": [
            {"product": "desktop", "period": "2026-10", "quantity": 1, "unit_amount_minor": 3900,
             "amount_minor": 3900, "tax_minor": 0},
            {"product": "exchange", "period": "2026-10", "quantity": 1, "unit_amount_minor": 800,
             "amount_minor": 800, "tax_minor": 0},
            {"product": "voip-minutes", "period": "2026-10", "quantity": 250, "unit_amount_minor": 2,
             "amount_minor": 500, "tax_minor": 0},
        ],
    }  # fmt: skip
    assert acme_api.get(f"/invoices/{invoice['id']}").get_json() == invoice
    pdf = acme_api.get(f"/invoices/{invoice['id']}/pdf")
    assert pdf.status_code == 200 and pdf.mimetype == "application/pdf"
    assert pdf.data.startswith(b"%PDF")

    # Tenancy: bright's invoice does not exist for acme; the reseller narrows with ?client=.
    (bright_invoice,) = reseller_api.get("/invoices?client=bright").get_json()["invoices"]
    assert bright_invoice["total_minor"] == 4900
    assert acme_api.get(f"/invoices/{bright_invoice['id']}").status_code == 404
    assert acme_api.get(f"/invoices/{bright_invoice['id']}/pdf").status_code == 404
    assert acme_api.get("/invoices?client=bright").status_code == 404


def test_an_invoice_shows_its_tax_what_is_left_to_pay_and_its_state_in_plain_words(
    october, reseller_api, acme_api, acme, after_october
):
    vat = create_tax_rate(TESTS, "VAT", "23", False, "PL")
    set_client_tax(TESTS, acme, vat.id, False, None)
    db.session.commit()
    reseller_api.post("/billing/close", {"period": "2026-10"})
    reseller_api.post("/billing/finalize", {"period": "2026-10"})
    (invoice,) = acme_api.get("/invoices?period=2026-10").get_json()["invoices"]
    # 23 % added on each line, rounded on the line: 8.97 + 1.84 + 1.15.
    assert [line["tax_minor"] for line in invoice["lines"]] == [897, 184, 115]
    assert (invoice["subtotal_minor"], invoice["tax_minor"], invoice["total_minor"]) == (5200, 1196, 6396)
    assert (invoice["state"], invoice["balance_minor"]) == ("due", 6396)

    row = db.session.get(Invoice, invoice["id"])
    assert row is not None
    record_payment(TESTS, row, 2000, PaymentMethod.TRANSFER, date(2026, 11, 2), "TR-1", utcnow())
    db.session.commit()
    with time_machine.travel("2026-11-20T12:00:00Z", tick=False):
        later = acme_api.get(f"/invoices/{invoice['id']}").get_json()
    assert (later["state"], later["balance_minor"], later["total_minor"]) == ("overdue", 4396, 6396)

    record_payment(TESTS, row, 4396, PaymentMethod.TRANSFER, date(2026, 11, 2), "TR-2", utcnow())
    db.session.commit()
    paid = acme_api.get(f"/invoices/{invoice['id']}").get_json()
    assert (paid["status"], paid["state"], paid["balance_minor"]) == ("paid", "paid", 0)


def test_closing_twice_rebuilds_and_finalized_months_refuse_a_close(october, reseller_api, after_october):
    reseller_api.post("/billing/close", {"period": "2026-10"})
    again = reseller_api.post("/billing/close", {"period": "2026-10"})
    assert again.get_json()["outcomes"] == {"unchanged": 2}

    reseller_api.post("/billing/finalize", {"period": "2026-10"})
    refused = reseller_api.post("/billing/close", {"period": "2026-10"})
    assert refused.status_code == 409
    assert "finalized" in error_of(refused)["message"]


def test_a_close_that_fails_midway_keeps_neither_drafts_nor_key_so_the_same_key_retries(
    october, reseller_api, after_october, monkeypatch
):
    # The close used to commit inside the request (after reading the month), which committed the
    # Idempotency-Key's claim with no answer: every retry with that key was then "still running".
    real_rate_client = metering.billing.close.rate_client
    visited: list[int] = []

    def crash_at_the_second_client(plan, client_id, invoice_id):
        visited.append(client_id)
        if len(visited) == 2:
            raise RuntimeError("the process died here")
        return real_rate_client(plan, client_id, invoice_id)

    monkeypatch.setattr(metering.billing.close, "rate_client", crash_at_the_second_client)
    key = {"Idempotency-Key": str(uuid.uuid4())}
    with pytest.raises(RuntimeError):
        reseller_api.post("/billing/close", {"period": "2026-10"}, headers=key)
    db.session.rollback()

    assert db.session.scalar(select(func.count(IdempotencyKey.id))) == 0
    assert db.session.scalar(select(func.count(Invoice.id))) == 0
    monkeypatch.setattr(metering.billing.close, "rate_client", real_rate_client)
    retried = reseller_api.post("/billing/close", {"period": "2026-10"}, headers=key)
    assert retried.status_code == 200, retried.get_json()
    assert retried.get_json() == {"period": "2026-10", "clients": 2, "outcomes": {"created": 2}, "failed": {}}
    replayed = reseller_api.post("/billing/close", {"period": "2026-10"}, headers=key)
    assert replayed.headers["Idempotent-Replayed"] == "true"
    assert replayed.get_json() == retried.get_json()


def test_close_of_a_month_that_is_not_over_is_a_conflict(reseller_api):
    with time_machine.travel("2026-10-31T12:00:00Z", tick=True):
        response = reseller_api.post("/billing/close", {"period": "2026-10"})

    assert response.status_code == 409
    assert "not over" in error_of(response)["message"]


def test_bad_periods_are_422(reseller_api):
    assert reseller_api.post("/billing/close", {"period": "2026-13"}).status_code == 422
    assert reseller_api.get("/invoices?period=October").status_code == 422
    assert reseller_api.get("/spla-report").status_code == 422


def test_spla_report_json_and_csv(october, reseller_api, acme, after_october):
    add_host(Actor.system("tests"), "rds-01", 12, 2, get_sku("WINDC-2CORE"), datetime(2026, 1, 1, tzinfo=UTC))
    db.session.commit()

    report = reseller_api.get("/spla-report?period=2026-10").get_json()

    assert report == {
        "period": "2026-10",
        "lines": [
            {"client": None, "sku": "WINDC-2CORE", "quantity": 8},  # max(12, 8 x 2) / 2
            {"client": "acme", "sku": "EXSTD-SAL", "quantity": 1},
            {"client": "acme", "sku": "OFFSTD-SAL", "quantity": 1},
            {"client": "acme", "sku": "WINRDS-SAL", "quantity": 1},
            {"client": "bright", "sku": "OFFPRO-SAL", "quantity": 1},
            {"client": "bright", "sku": "WINRDS-SAL", "quantity": 1},
        ],
    }
    exported = reseller_api.get("/spla-report.csv?period=2026-10")
    assert exported.mimetype == "text/csv"
    rows = list(csv.DictReader(io.StringIO(exported.get_data(as_text=True))))
    assert rows[0] == {
        "period": "2026-10",
        "sku": "WINDC-2CORE",
        "sku_name": "Windows Server Datacenter 2-core pack",
        "quantity": "8",
        "unit_cost": "13.30",
        "currency": "USD",
        "end_customer": "",
        "part_number": "",
        "end_customer_address": "",
    }
    assert rows[1]["end_customer"] == "Acme Law LLP" and rows[1]["unit_cost"] == "4.20"


def test_an_empty_month_is_still_a_report(reseller_api):
    assert reseller_api.get("/spla-report?period=2026-10").get_json() == {"period": "2026-10", "lines": []}
    exported = reseller_api.get("/spla-report.csv?period=2026-10").get_data(as_text=True)
    assert exported == (
        "period,sku,sku_name,quantity,unit_cost,currency,end_customer,part_number,end_customer_address\r\n"
    )


def test_the_spla_report_is_the_resellers(acme_api):
    assert acme_api.get("/spla-report?period=2026-10").status_code == 403
    assert acme_api.get("/spla-report.csv?period=2026-10").status_code == 403
    assert acme_api.post("/billing/close", {"period": "2026-10"}).status_code == 403
