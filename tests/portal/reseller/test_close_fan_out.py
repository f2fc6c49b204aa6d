"""A large month close fanned out over workers: one task per batch, the last one to finish completes it."""

from __future__ import annotations

import re
from typing import Any

import pytest
from sqlalchemy import func, select

from metering.billing import close_runs, runs
from metering.billing.models import BillingPeriodState, CloseRun, Invoice, InvoiceStatus
from metering.billing.tasks import close_month, close_month_batch
from portal.audit.models import AuditEvent
from portal.db import db

REVIEW = "/reseller/review/2026-10"
STATUS = f"{REVIEW}/close-status.json"


@pytest.fixture
def fanned_out(client, open_month, staff, queued, monkeypatch) -> list[list[Any]]:
    """A close of October started from the console and split into three batches of one client."""
    monkeypatch.setattr(close_runs, "FAN_OUT_FROM", 1)
    monkeypatch.setattr(runs, "BATCH_SIZE", 1)
    client.post(f"{REVIEW}/close")
    ((name, args),) = queued
    assert name == "metering.close_month"
    assert close_month.run(*args) == {"run": args[1], "clients": 3, "batches": 3}
    batches = [args for name, args in queued[1:]]
    assert [name for name, _ in queued[1:]] == ["metering.close_month_batch"] * 3
    return batches


def _drafts() -> int:
    db.session.expire_all()
    return db.session.scalars(
        select(func.count(Invoice.id)).where(
            Invoice.period == "2026-10", Invoice.status == InvoiceStatus.DRAFT
        )
    ).one()


def test_batches_finishing_in_any_order_complete_the_close_once(client, fanned_out):
    status = client.get(STATUS).get_json()
    assert (
        status["status"] == "running" and status["progress"] == "Closing October 2026: 0 of 3 clients done."
    )

    last, middle, first = reversed(fanned_out)
    assert close_month_batch.run(*last)["outcomes"] == {"created": 1}
    # Delivered twice (a worker died after committing): done once.
    assert close_month_batch.run(*last) == {"run": last[0], "batch": last[1], "skipped": True}
    close_month_batch.run(*first)
    status = client.get(STATUS).get_json()
    assert status["status"] == "running" and status["clients_done"] == 2
    assert db.session.get(BillingPeriodState, "2026-10") is None  # not closed until every batch is in

    close_month_batch.run(*middle)

    status = client.get(STATUS).get_json()
    assert status["status"] == "finished"
    assert status["outcomes"] == {"created": 3} and status["failures"] == []
    assert status["progress"] == "October 2026 is closed: 3 of 3 clients went through."
    assert _drafts() == 3
    assert db.session.get(BillingPeriodState, "2026-10").closed_at is not None
    closed = db.session.scalars(
        select(AuditEvent).where(
            AuditEvent.action == "billing.period_closed", AuditEvent.object_id == "2026-10"
        )
    ).all()
    assert len(closed) == 1 and closed[0].details["created"] == 3
    run = db.session.scalars(select(CloseRun)).one()
    assert (run.batches_total, sorted(run.batches_finished or [])) == (3, [0, 1, 2])
    assert close_month_batch.run(*middle)["skipped"] is True


def test_a_client_that_fails_in_one_batch_is_listed_and_the_other_batches_go_through(
    client, fanned_out, open_month, monkeypatch
):
    real_close_client = runs.close_client

    def failing(actor, plan, client_id):
        if plan.refs[client_id] == open_month.bright.ref:
            raise ValueError("no price for Hosted Desktop in October 2026")
        return real_close_client(actor, plan, client_id)

    monkeypatch.setattr(runs, "close_client", failing)
    for batch in fanned_out:
        close_month_batch.run(*batch)

    status = client.get(STATUS).get_json()
    assert status["status"] == "finished"
    assert status["failures"] == [
        {"client": open_month.bright.ref, "reason": "no price for Hosted Desktop in October 2026"}
    ]
    assert _drafts() == 2
    # The month is not closed while a client failed: it can be closed again once fixed.
    assert db.session.get(BillingPeriodState, "2026-10") is None
    page = re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", client.get(REVIEW).get_data(as_text=True)))
    assert "2 of 3 clients went through, 1 failed" in page


def test_a_batch_finished_by_another_worker_meanwhile_is_never_overwritten(
    app, client, fanned_out, monkeypatch
):
    first, second, third = fanned_out
    close_month_batch.run(*first)
    real_close_clients = runs.close_clients

    def and_meanwhile(actor, plan, client_ids, summary):
        real_close_clients(actor, plan, client_ids, summary)
        if client_ids:
            monkeypatch.setattr(runs, "close_clients", real_close_clients)
            # This worker read the run before; another worker, with its own database session,
            # finishes batch 1 before this one records its own.
            with app.app_context():
                close_month_batch.run(*second)

    monkeypatch.setattr(runs, "close_clients", and_meanwhile)
    close_month_batch.run(*third)

    status = client.get(STATUS).get_json()
    assert status["status"] == "finished"
    assert (status["clients_done"], status["outcomes"]) == (3, {"created": 3})
    assert db.session.get(BillingPeriodState, "2026-10") is not None
