"""The month close as a Celery task: one transaction per batch of clients, nothing committed by the engine."""

from __future__ import annotations

from sqlalchemy import select

from metering.billing import runs
from metering.billing.models import BillingPeriodState
from metering.billing.tasks import close_month
from portal.db import db
from tests.metering.months import event


def test_the_close_task_closes_the_month_in_batches(month, make_client, travel, monkeypatch):
    for ref in ("acme", "bright", "cedar"):
        make_client(ref)
    month.events(
        event("e1", "acme", "alice@acme.example", "desktop", "start", "2026-10-03T09:00:00Z"),
        event("e2", "bright", "dana@bright.example", "exchange", "start", "2026-10-03T09:00:00Z"),
        event("e3", "cedar", "carl@cedar.example", "desktop", "start", "2026-10-03T09:00:00Z"),
    )
    travel("2026-11-02T12:00:00Z")
    monkeypatch.setattr(runs, "BATCH_SIZE", 2)
    commits: list[str] = []
    real_commit = db.session.commit
    monkeypatch.setattr(db.session, "commit", lambda: (commits.append("commit"), real_commit())[1])

    result = close_month.run("2026-10")

    assert result == {"clients": 3, "outcomes": {"created": 3}, "failed": {}}
    # The read, two batches of clients, the completion record.
    assert len(commits) == 4
    assert db.session.scalars(select(BillingPeriodState)).one().closed_at is not None
    assert [invoice["client"] for invoice in month.invoices("2026-10")] == ["acme", "bright", "cedar"]
