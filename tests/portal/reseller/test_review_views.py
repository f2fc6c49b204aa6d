"""The monthly bill review: drafts with their lines, changes by name, flags, drill-down, hold and approve."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import select

from metering.billing.models import BillingPeriodState, Invoice, InvoiceStatus
from portal.audit.models import AuditEvent
from portal.db import db
from tests.conftest import csrf_token_from
from tests.portal.reseller.conftest import OCTOBER

REVIEW = "/reseller/review/2026-10"
DASH = "\N{EN DASH}"


def invoice_of(client, period: str = "2026-10") -> Invoice:
    db.session.expire_all()
    return db.session.scalars(
        select(Invoice).where(Invoice.client_id == client.id, Invoice.period == period)
    ).one()


def bill_text(page: str, invoice: Invoice) -> str:
    start = page.index(f'id="invoice-{invoice.id}"')
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", page[start : page.index("</section>", start)]))


def test_every_clients_draft_with_its_lines_changes_by_name_and_flags(client, business, staff):
    page = client.get(REVIEW).get_data(as_text=True)

    acme = bill_text(page, invoice_of(business.acme))
    assert "draft · $125.00" in acme
    assert "Hosted Desktop — 3 users, October 2026 3 $39.00 $117.00" in acme
    assert "Hosted Exchange Mailbox — 1 user, October 2026 1 $8.00 $8.00" in acme
    # Against September, by name (e-mails without an end user stay as they are).
    assert "Hosted Desktop : 2 → 3 people." in acme
    assert "Added: Carol Cruz carol@acme.example , ghost@acme.example." in acme
    assert "Removed: Bob Baker bob@acme.example ." in acme
    assert "Usage reported with no seat in the portal for: ghost@acme.example." in acme

    bright = bill_text(page, invoice_of(business.bright))
    assert "Hosted Desktop: 4 users, up from 0 last month." in bright
    assert "No payment method on file" in bright

    ledger = bill_text(page, invoice_of(business.ledger))
    assert "Same people as last month." in ledger
    assert "No payment method" not in ledger
    assert "Stripe is not configured (STRIPE_API_KEY is not set)" in page


def test_drilling_down_from_a_line_to_the_people_and_their_days(client, business, staff):
    acme = invoice_of(business.acme)
    page = client.get(REVIEW).get_data(as_text=True)
    desktop_line = next(line for line in acme.lines if line.product.code == "desktop")
    link = f"/reseller/review/2026-10/invoices/{acme.id}#line-{desktop_line.id}"
    assert link in page

    detail = client.get(link.split("#")[0]).get_data(as_text=True)

    line = re.sub(
        r"\s+", " ", re.sub(r"<[^>]+>", " ", detail[detail.index(f'id="line-{desktop_line.id}"') :])
    )
    assert f"Alice Archer alice@acme.example Oct 01 {DASH} Oct 31 31 a seat" in line
    assert f"Carol Cruz carol@acme.example Oct 05 {DASH} Oct 31 27 a seat" in line
    assert f"ghost@acme.example Oct 10 {DASH} Oct 31 22 reported usage no seat" in line
    assert "Bob" not in line.split("Hosted Exchange Mailbox")[0]


def test_hold_approve_all_skips_it_then_release_and_approve_freezes_the_month(client, business, staff):
    bright = invoice_of(business.bright)

    empty = client.post(f"{REVIEW}/invoices/{bright.id}/hold", data={f"hold-{bright.id}-reason": "  "})
    assert empty.status_code == 422
    assert "Say why, for whoever releases it." in empty.get_data(as_text=True)
    assert invoice_of(business.bright).hold_reason is None

    held = client.post(
        f"{REVIEW}/invoices/{bright.id}/hold",
        data={f"hold-{bright.id}-reason": "Dr. Bright disputes the 4 desktops"},
        follow_redirects=True,
    )
    assert "“approve all” skips it" in held.get_data(as_text=True)
    assert invoice_of(business.bright).hold_reason == "Dr. Bright disputes the 4 desktops"

    done = client.post(f"{REVIEW}/approve-all", follow_redirects=True).get_data(as_text=True)

    assert "2 bills of October 2026 approved and finalized. 1 held bill was skipped." in done
    assert "Stripe is not configured (STRIPE_API_KEY is not set), so they were NOT sent for payment" in done
    assert invoice_of(business.acme).status is InvoiceStatus.FINALIZED
    assert invoice_of(business.ledger).status is InvoiceStatus.FINALIZED
    assert invoice_of(business.bright).status is InvoiceStatus.DRAFT
    assert db.session.get(BillingPeriodState, "2026-10").finalized_at is None  # a draft is left

    refused = client.post(f"{REVIEW}/invoices/{bright.id}/approve", follow_redirects=True)
    assert "release the hold before approving it" in refused.get_data(as_text=True)
    assert invoice_of(business.bright).status is InvoiceStatus.DRAFT

    client.post(f"{REVIEW}/invoices/{bright.id}/release")
    approved = client.post(f"{REVIEW}/invoices/{bright.id}/approve", data={"next": "bill"})
    assert approved.headers["Location"] == f"{REVIEW}/invoices/{bright.id}"

    assert invoice_of(business.bright).status is InvoiceStatus.FINALIZED
    db.session.expire_all()
    assert db.session.get(BillingPeriodState, "2026-10").finalized_at is not None
    actions = list(
        db.session.scalars(
            select(AuditEvent.action).where(AuditEvent.object_id == str(bright.id)).order_by(AuditEvent.id)
        )
    )
    assert actions[-3:] == ["invoice.held", "invoice.released", "invoice.finalized"]
    frozen = db.session.scalars(
        select(AuditEvent).where(AuditEvent.action == "billing.period_finalized")
    ).all()
    assert [event.object_id for event in frozen] == ["2026-09", "2026-10"]
    assert frozen[-1].actor == "sam@northwind-it.example"


def test_approval_sends_to_stripe_after_the_commit_when_configured(app, client, business, staff, monkeypatch):
    app.config["STRIPE_API_KEY"] = "sk_test_console"
    queued: list[int] = []
    # Jobs go through the app's own Celery app (portal.celery_app.enqueue_after_commit); the e-mail
    # notice of the same change is tested in tests/portal/notices.
    monkeypatch.setattr(
        app.extensions["celery"],
        "send_task",
        lambda name, args, **kw: queued.extend(args) if name != "notices.send" else None,
    )
    ledger = invoice_of(business.ledger)

    page = client.post(f"{REVIEW}/invoices/{ledger.id}/approve", follow_redirects=True).get_data(as_text=True)

    assert "being sent to Stripe for payment in the background" in page
    assert queued == [ledger.id]


def test_a_month_whose_close_did_not_finish_cannot_be_approved(client, business, staff):
    db.session.get(BillingPeriodState, "2026-10").closed_at = None
    db.session.commit()

    page = client.post(f"{REVIEW}/approve-all", follow_redirects=True).get_data(as_text=True)

    assert "has not gone through every client yet" in page
    assert invoice_of(business.acme).status is InvoiceStatus.DRAFT


def test_filters_show_what_needs_attention(client, business, staff):
    flagged = client.get(f"{REVIEW}?show=flagged").get_data(as_text=True)
    assert "Acme Law LLP" in flagged and "Bright Smile Dental" in flagged
    assert "Ledgerline Accountants</a>" not in flagged

    searched = client.get(f"{REVIEW}?q=ledger").get_data(as_text=True)
    assert "Ledgerline Accountants</a>" in searched and "Acme Law LLP</a>" not in searched

    bad = client.get(f"{REVIEW}?show=everything")
    assert bad.status_code == 200  # an unknown filter shows every bill
    assert "3 bills shown" in bad.get_data(as_text=True)


@pytest.mark.parametrize(
    "url",
    [
        "/reseller/review/2026-13",
        "/reseller/review/october",
        "/reseller/review/2026-10/invoices/999999",
        "/reseller/review/2026-10/invoices/99999999999999999999",
    ],
)
def test_bad_addresses_are_not_found(client, business, staff, url):
    assert client.get(url).status_code == 404


def test_another_months_invoice_is_not_found_under_this_month(client, business, staff):
    september = invoice_of(business.acme, "2026-09")

    assert client.get(f"{REVIEW}/invoices/{september.id}").status_code == 404
    assert client.post(f"{REVIEW}/invoices/{september.id}/approve").status_code == 404


def test_the_month_picker_checks_its_input(client, business, staff):
    assert client.get("/reseller/review/?period=2026-10").headers["Location"] == REVIEW
    bad = client.get("/reseller/review/?period=10/2026")
    assert bad.status_code == 422
    assert "Write the month as YYYY-MM" in bad.get_data(as_text=True)
    assert client.get("/reseller/review/").headers["Location"] == REVIEW  # the newest month with bills


def test_a_finalized_invoice_cannot_be_held(client, business, staff):
    september = invoice_of(business.acme, "2026-09")
    page = client.post(
        f"/reseller/review/2026-09/invoices/{september.id}/hold",
        data={f"hold-{september.id}-reason": "too late"},
        follow_redirects=True,
    ).get_data(as_text=True)

    assert "only a draft can be held" in page


def test_forms_carry_a_csrf_token(app, client, business, staff):
    app.config["WTF_CSRF_ENABLED"] = True
    acme = invoice_of(business.acme)

    assert client.post(f"{REVIEW}/invoices/{acme.id}/approve").status_code == 400
    token = csrf_token_from(client.get(REVIEW).get_data(as_text=True))
    client.post(f"{REVIEW}/invoices/{acme.id}/approve", data={"csrf_token": token})

    assert invoice_of(business.acme).status is InvoiceStatus.FINALIZED
    assert OCTOBER.label in client.get(REVIEW).get_data(as_text=True)


def test_bad_input_is_never_a_500(client, business, staff):
    acme = invoice_of(business.acme)

    too_long = client.post(f"{REVIEW}/invoices/{acme.id}/hold", data={f"hold-{acme.id}-reason": "x" * 501})
    assert too_long.status_code == 422
    assert "Field cannot be longer than 500 characters." in too_long.get_data(as_text=True)
    on_bill = client.post(
        f"{REVIEW}/invoices/{acme.id}/hold", data={f"hold-{acme.id}-reason": "", "next": "bill"}
    )
    assert on_bill.status_code == 422
    assert "Acme Law LLP: October 2026" in on_bill.get_data(as_text=True)
    assert invoice_of(business.acme).hold_reason is None

    for query in ("page=abc", "page=-4", "page=99999999999999999999", "q=" + "x" * 300, "show=held&q=%00"):
        assert client.get(f"{REVIEW}?{query}").status_code == 200, query
    assert "Field cannot be longer than 200 characters." in client.get(f"{REVIEW}?q={'x' * 300}").get_data(
        as_text=True
    )
