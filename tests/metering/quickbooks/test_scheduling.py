"""When the sync runs: after the commits that issue documents, and again later while QuickBooks is busy."""

from __future__ import annotations

import pytest

from metering.credits.models import PaymentMethod
from metering.credits.payments import record_payment
from metering.credits.services import issue_credit_note
from metering.quickbooks.tasks import sync_quickbooks
from portal.db import db, utcnow
from tests.metering.months import TESTS


@pytest.fixture
def sent(app, monkeypatch) -> list[str]:
    queued: list[str] = []
    monkeypatch.setattr(app.extensions["celery"], "send_task", lambda name, *a, **kw: queued.append(name))
    return queued


def test_a_payment_or_a_credit_note_queues_a_sync_after_the_commit(connected, books, sent):
    invoice = books.invoices["acme"]
    record_payment(TESTS, invoice, 100, PaymentMethod.CHEQUE, utcnow().date(), "Cheque 12", utcnow())
    assert sent == []  # nothing before the commit
    db.session.commit()
    assert sent == ["metering.sync_quickbooks"]

    issue_credit_note(TESTS, invoice, "Goodwill", utcnow(), amount_minor=100)
    db.session.rollback()
    assert sent == ["metering.sync_quickbooks"]  # a rolled-back credit note queues nothing


def test_nothing_is_queued_without_quickbooks_settings(books, sent):
    record_payment(TESTS, books.invoices["acme"], 100, PaymentMethod.CHEQUE, utcnow().date(), "", utcnow())
    db.session.commit()

    assert "metering.sync_quickbooks" not in sent


def test_the_task_tries_again_later_while_quickbooks_stays_busy(connected, books, quickbooks, monkeypatch):
    quickbooks.throttle(50)
    countdowns: list[int] = []

    class Retry(Exception):
        pass

    def retry(countdown: int) -> Exception:
        countdowns.append(countdown)
        return Retry()

    monkeypatch.setattr(sync_quickbooks, "retry", retry)
    with pytest.raises(Retry):
        sync_quickbooks.run()

    assert countdowns == [60]
    quickbooks.throttle(0)
    assert sync_quickbooks.run() == {"done": 5}
