"""E-mail notices, received by a real SMTP server: who gets what, once, in plain words."""

from __future__ import annotations

from datetime import datetime, timedelta
from email.message import EmailMessage
from zoneinfo import ZoneInfo

import pytest
import time_machine
from sqlalchemy import select

from metering import mark_spla_submitted, spla_report
from metering.billing import lifecycle as invoices
from metering.periods import BillingPeriod
from portal.accounts.models import Client, Role
from portal.db import db, utcnow
from portal.notices import tasks as notice_tasks
from portal.notices.models import SentNotice
from portal.notices.tasks import send_notices, send_spla_reminders
from portal.orders.models import Seat
from provisioning import resume_client, suspend_client
from tests.metering.months import Month, event
from tests.metering.seat_steps import step
from tests.portal.notices.conftest import Mailbox, notice_jobs, run_notice_jobs
from tests.provisioning.conftest import ACTOR, order


def bodies(message: EmailMessage) -> tuple[str, str]:
    text = message.get_body(preferencelist=("plain",))
    html = message.get_body(preferencelist=("html",))
    assert text is not None and html is not None, "a notice has a plain-text and an HTML part"
    return text.get_content(), html.get_content()


def test_a_ready_seat_is_told_once_to_each_client_admin_even_when_the_event_comes_twice(
    acme: Client, make_user, queued, mailbox: Mailbox
) -> None:
    admin = make_user(Role.CLIENT_ADMIN, acme, "boss@acme.example")
    make_user(Role.CLIENT_USER, acme, "clerk@acme.example")
    seat: Seat = order(acme, "voip").seats[0]
    run_notice_jobs(queued)
    [placed] = mailbox.messages
    assert placed["To"] == admin.email and placed["Subject"] == f"Order placed: {seat.product.name}, 1 seat"
    mailbox.messages.clear()
    step(seat)
    [event_id] = notice_jobs(queued)
    queued.append(("notices.send", [event_id]))  # the broker delivers the job a second time

    results = run_notice_jobs(queued)

    assert [message["To"] for message in mailbox.messages] == [admin.email]
    assert results[1] == {"sent": 0, "skipped": 1}
    [message] = mailbox.messages
    text, html = bodies(message)
    assert "is ready to use" in text and seat.product.name in message["Subject"]
    assert "Northwind IT" in text and "help@northwind.example" in text
    assert "Northwind IT" in html and f"/client/seats/{seat.id}" in html


def test_a_failed_seat_tells_the_client_in_plain_words_and_the_reseller_the_reason(
    acme: Client, make_user, queued, mailbox: Mailbox
) -> None:
    client_admin = make_user(Role.CLIENT_ADMIN, acme, "boss@acme.example")
    reseller_admin = make_user(Role.RESELLER_ADMIN, None, "ops@northwind.example")
    seat: Seat = order(acme, "voip").seats[0]
    step(seat, fails=True)

    run_notice_jobs(queued)

    [_, to_client] = mailbox.to(client_admin.email)  # the order placed, then the failure
    client_text, client_html = bodies(to_client)
    assert "could not be set up yet" in client_text and "Your provider has been told" in client_text
    assert "refused" not in client_text + client_html
    [to_reseller] = mailbox.to(reseller_admin.email)
    reseller_text, _ = bodies(to_reseller)
    assert "Reason: The platform refused the change." in reseller_text
    assert "Acme Law" in to_reseller["Subject"]


def test_an_issued_invoice_goes_to_the_billing_addresses_with_its_pdf(
    acme: Client, make_user, queued, mailbox: Mailbox
) -> None:
    make_user(Role.CLIENT_ADMIN, acme, "boss@acme.example")
    acme.billing_email = "accounts@acme.example"
    acme.extra_billing_emails = "partner@acme.example\n"
    invoice = invoices.new_draft(acme.id, BillingPeriod(2026, 10))
    now = utcnow()
    invoice.currency, invoice.total_minor = "USD", 12500
    invoice.starts_at, invoice.ends_at, invoice.built_at = now - timedelta(days=30), now, now
    db.session.add(invoice)
    db.session.flush()
    invoices.finalize(invoice, now)
    db.session.commit()

    run_notice_jobs(queued)

    assert sorted(message["To"] for message in mailbox.messages) == [
        "accounts@acme.example",
        "partner@acme.example",
    ]
    message = mailbox.to("accounts@acme.example")[0]
    assert "$125.00" in message["Subject"]
    [pdf] = [part for part in message.iter_attachments() if part.get_content_type() == "application/pdf"]
    assert pdf.get_filename() == f"invoice-{invoice.number}.pdf"
    assert pdf.get_content().startswith(b"%PDF")


def test_a_closed_month_tells_the_reseller_staff_its_bills_wait_for_review(
    acme: Client, make_user, queued, mailbox: Mailbox
) -> None:
    staff = make_user(Role.RESELLER_STAFF, None, "clerk@northwind.example")
    make_user(Role.CLIENT_ADMIN, acme, "boss@acme.example")
    month = Month()
    month.events(event("e1", "acme", "alice@acme.example", "desktop", "start", "2026-10-03T09:00:00Z"))
    with time_machine.travel("2026-11-02T12:00:00Z", tick=True):
        month.close("2026-10")
        run_notice_jobs(queued)

    [message] = mailbox.messages
    assert message["To"] == staff.email
    assert message["Subject"] == "Bills for October 2026 are ready for review"
    text, html = bodies(message)
    assert "October 2026 is closed: 1 draft bill waits for your review." in text
    assert "/reseller/review/2026-10" in html


def test_suspension_and_resumption_are_told_to_the_client(
    acme: Client, make_user, queued, mailbox: Mailbox
) -> None:
    admin = make_user(Role.CLIENT_ADMIN, acme, "boss@acme.example")
    suspend_client(ACTOR, acme, "Unpaid")
    db.session.commit()
    resume_client(ACTOR, acme)
    db.session.commit()

    run_notice_jobs(queued)

    subjects = [message["Subject"] for message in mailbox.to(admin.email)]
    assert subjects == ["Your services are suspended", "Your services are back"]


def test_a_mail_server_outage_is_retried_and_then_each_notice_goes_out_once(
    app, acme: Client, make_user, queued, mailbox: Mailbox
) -> None:
    admin = make_user(Role.CLIENT_ADMIN, acme, "boss@acme.example")
    suspend_client(ACTOR, acme, "Unpaid")
    db.session.commit()
    [event_id] = notice_jobs(queued)
    working_port = app.config["MAIL_PORT"]
    app.config["MAIL_PORT"] = 1  # nothing listens there

    with pytest.raises(ConnectionRefusedError):
        send_notices.run(event_id)
    assert db.session.scalars(select(SentNotice)).all() == []

    app.config["MAIL_PORT"] = working_port
    assert send_notices.run(event_id) == {"sent": 1, "skipped": 0}
    assert send_notices.run(event_id) == {"sent": 0, "skipped": 1}
    assert [message["To"] for message in mailbox.messages] == [admin.email]


@pytest.mark.parametrize(
    ("today", "subject"),
    [
        ("2026-11-06T12:00:00+00:00", None),
        ("2026-11-07T12:00:00+00:00", "The SPLA report for October 2026 is due November 10, 2026"),
        ("2026-11-11T12:00:00+00:00", "Overdue: the SPLA report for October 2026"),
    ],
)
def test_the_reseller_is_reminded_of_the_spla_report_once_before_and_once_after_the_10th(
    acme: Client,
    make_user,
    mailbox: Mailbox,
    monkeypatch: pytest.MonkeyPatch,
    today: str,
    subject: str | None,
) -> None:
    reseller_admin = make_user(Role.RESELLER_ADMIN, None, "ops@northwind.example")
    make_user(Role.CLIENT_ADMIN, acme, "boss@acme.example")
    monkeypatch.setattr(notice_tasks, "utcnow", lambda: datetime.fromisoformat(today))

    send_spla_reminders.run()
    send_spla_reminders.run()

    assert [message["Subject"] for message in mailbox.messages] == ([subject] if subject else [])
    assert all(message["To"] == reseller_admin.email for message in mailbox.messages)


def test_no_spla_reminder_once_the_report_is_marked_submitted(
    acme: Client, make_user, mailbox: Mailbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    make_user(Role.RESELLER_ADMIN, None, "ops@northwind.example")
    now = datetime.fromisoformat("2026-11-12T12:00:00+00:00")
    mark_spla_submitted(
        ACTOR, spla_report(BillingPeriod(2026, 10), ZoneInfo("UTC")), None, ZoneInfo("UTC"), now
    )
    db.session.commit()
    monkeypatch.setattr(notice_tasks, "utcnow", lambda: now)

    assert send_spla_reminders.run() == {"sent": 0, "skipped": 0}
    assert mailbox.messages == []
