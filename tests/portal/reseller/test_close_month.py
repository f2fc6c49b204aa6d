"""Closing a month from the bill review page: the button, the task's progress, the outcome, the refusals."""

from __future__ import annotations

import re
from datetime import timedelta

from sqlalchemy import select

from metering.billing import close_runs, runs
from metering.billing.models import BillingPeriodState, CloseRun, CloseRunStatus, Invoice, InvoiceStatus
from metering.billing.tasks import close_month
from portal.audit.models import AuditEvent
from portal.db import db, utcnow

REVIEW = "/reseller/review/2026-10"
STATUS = f"{REVIEW}/close-status.json"


def text_of(page: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", page))


def drafts(period: str = "2026-10") -> list[Invoice]:
    db.session.expire_all()
    return list(
        db.session.scalars(
            select(Invoice).where(Invoice.period == period, Invoice.status == InvoiceStatus.DRAFT)
        )
    )


def test_staff_close_the_month_from_the_review_page_and_see_the_outcome(
    client, open_month, staff, queued, monkeypatch
):
    page = client.get(REVIEW).get_data(as_text=True)
    assert "Close October 2026</button>" in page and not drafts()
    assert "or from a terminal" in text_of(page)
    # Progressive enhancement from a static file: no inline script on the page.
    assert re.search(r'<script src="/reseller/console-static/close\.js', page)
    assert "<script>" not in page and "<script type" not in page
    assert client.get("/reseller/console-static/close.js").status_code == 200

    answer = client.post(f"{REVIEW}/close", follow_redirects=True)
    page = answer.get_data(as_text=True)
    assert answer.status_code == 200
    assert "Closing October 2026 in the background" in page
    assert "waiting for a worker to start" in page
    assert "Close October 2026</button>" not in page  # no second close while this one runs
    ((name, args),) = queued
    assert name == "metering.close_month"
    status = client.get(STATUS).get_json()
    assert status["status"] == "running" and status["clients_total"] is None

    # The worker: one batch of one client at a time, each batch committing its progress.
    progress: list[tuple[int, int | None]] = []
    real_note = close_runs._note_progress

    def note(run_id: int, done: int, summary: runs.CloseSummary) -> None:
        real_note(run_id, done, summary)
        run = db.session.get(CloseRun, run_id)
        assert run is not None
        progress.append((run.clients_done, run.clients_total))

    monkeypatch.setattr(close_runs, "_note_progress", note)
    monkeypatch.setattr(runs, "BATCH_SIZE", 1)
    result = close_month.run(*args)
    assert result == {"clients": 3, "outcomes": {"created": 3}, "failed": {}}
    assert progress == [(1, 3), (2, 3), (3, 3), (3, 3)]

    status = client.get(STATUS).get_json()
    assert status["status"] == "finished"
    assert (status["clients_total"], status["clients_done"]) == (3, 3)
    assert status["outcomes"] == {"created": 3} and status["failures"] == []
    assert status["progress"] == "October 2026 is closed: 3 of 3 clients went through."
    page = text_of(client.get(REVIEW).get_data(as_text=True))
    assert "October 2026 is closed: 3 of 3 clients went through." in page
    assert "3 drafts created" in page
    assert "Started by sam@northwind-it.example" in page
    assert len(drafts()) == 3
    assert db.session.get(BillingPeriodState, "2026-10").closed_at is not None
    actors = db.session.scalars(
        select(AuditEvent.actor).where(
            AuditEvent.action.in_(["billing.close_started", "billing.period_closed"]),
            AuditEvent.object_id == "2026-10",
        )
    ).all()
    assert sorted(actors) == ["sam@northwind-it.example", "sam@northwind-it.example (month close)"]
    # A redelivered message changes nothing.
    assert close_month.run(*args) == {"run": args[1], "skipped": True}


def test_admins_may_close_too_and_a_second_close_while_one_runs_is_refused(client, open_month, admin, queued):
    client.post(f"{REVIEW}/close")
    again = client.post(f"{REVIEW}/close", follow_redirects=True).get_data(as_text=True)
    assert "October 2026 is being closed right now; wait until it finishes." in again
    assert len(queued) == 1
    assert db.session.scalars(select(CloseRun)).one().status is CloseRunStatus.RUNNING


def test_a_close_that_stopped_moving_no_longer_blocks_the_month(client, open_month, staff, queued, clock):
    client.post(f"{REVIEW}/close")
    clock.shift(close_runs.STALE_AFTER + timedelta(minutes=1))
    page = client.post(f"{REVIEW}/close", follow_redirects=True).get_data(as_text=True)
    assert "Closing October 2026 in the background" in page
    db.session.expire_all()
    first, second = db.session.scalars(select(CloseRun).order_by(CloseRun.id)).all()
    assert first.status is CloseRunStatus.FAILED and "stopped moving" in (first.error or "")
    assert second.status is CloseRunStatus.RUNNING
    assert close_month.run(*queued[0][1]) == {"run": first.id, "skipped": True}


def test_a_month_not_over_or_finalized_is_refused_with_the_reason(client, open_month, staff, queued):
    november = client.get("/reseller/review/2026-11").get_data(as_text=True)
    assert "November 2026 is not over yet" in november and "Close November 2026</button>" not in november
    refused = client.post("/reseller/review/2026-11/close", follow_redirects=True).get_data(as_text=True)
    assert "November 2026 is not over yet" in refused

    september = client.get("/reseller/review/2026-09").get_data(as_text=True)
    assert "September 2026 is finalized" in september and "Close September 2026</button>" not in september
    refused = client.post("/reseller/review/2026-09/close", follow_redirects=True).get_data(as_text=True)
    assert "September 2026 is finalized" in refused
    assert queued == [] and db.session.scalars(select(CloseRun)).all() == []


def test_a_close_the_worker_cannot_do_ends_failed_with_the_reason(client, open_month, staff, queued):
    client.post(f"{REVIEW}/close")
    # Someone finalized October from the command line between the press and the worker.
    db.session.add(BillingPeriodState(period="2026-10", finalized_at=utcnow()))
    db.session.commit()

    assert close_month.run(*queued[0][1]) == {"run": queued[0][1][1], "skipped": True}

    status = client.get(STATUS).get_json()
    assert status["status"] == "failed"
    assert status["error"].startswith("October 2026 is finalized")
    assert "The close of October 2026 stopped: October 2026 is finalized" in text_of(
        client.get(REVIEW).get_data(as_text=True)
    )
    assert drafts() == []


def test_a_client_that_fails_is_listed_with_its_reason(client, open_month, staff, queued, monkeypatch):
    client.post(f"{REVIEW}/close")
    real_close_client = runs.close_client

    def failing(actor, plan, client_id):
        if plan.refs[client_id] == open_month.bright.ref:
            raise ValueError("no price for Hosted Desktop in October 2026")
        return real_close_client(actor, plan, client_id)

    monkeypatch.setattr(runs, "close_client", failing)
    close_month.run(*queued[0][1])

    status = client.get(STATUS).get_json()
    assert status["status"] == "finished"
    assert status["failures"] == [
        {"client": open_month.bright.ref, "reason": "no price for Hosted Desktop in October 2026"}
    ]
    page = text_of(client.get(REVIEW).get_data(as_text=True))
    assert "2 of 3 clients went through, 1 failed" in page
    assert f"{open_month.bright.ref} : no price for Hosted Desktop in October 2026" in page
    assert "Close October 2026" in page  # it can be closed again once fixed


def test_the_status_of_a_month_never_closed_here(client, open_month, staff):
    assert client.get(STATUS).get_json() == {"status": "none"}
    assert client.get("/reseller/review/9999-12/close-status.json").status_code == 404
    assert client.post("/reseller/review/0001-01/close").status_code == 404


def test_clients_cannot_close_a_month(client, open_month, make_user, login, queued):
    from portal.accounts.models import Role

    login(make_user(Role.CLIENT_ADMIN, client=open_month.acme))
    assert client.post(f"{REVIEW}/close").status_code in (403, 404)
    assert client.get(STATUS).status_code in (403, 404)
    assert queued == []
