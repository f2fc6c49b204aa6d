"""The database kernel: UTC timestamps and work that waits for the commit."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from sqlalchemy import select
from sqlalchemy.exc import StatementError

from portal.accounts.models import Client
from portal.db import after_commit, db


def test_timestamps_come_back_aware_in_utc(app, make_client):
    client = make_client("tzcheck")
    client.created_at = datetime(2026, 10, 31, 23, 30, tzinfo=timezone(timedelta(hours=-5)))
    db.session.commit()
    db.session.expire_all()

    stored = db.session.scalars(select(Client).where(Client.ref == "tzcheck")).one()

    assert stored.created_at == datetime(2026, 11, 1, 4, 30, tzinfo=UTC)
    assert stored.created_at.tzinfo is not None


def test_naive_timestamp_is_refused(app, make_client):
    client = make_client("naive")
    client.created_at = datetime(2026, 10, 1, 12, 0)

    with pytest.raises(StatementError, match="naive datetime"):
        db.session.flush()
    db.session.rollback()


def test_after_commit_runs_once_the_commit_succeeds(app):
    ran: list[str] = []
    after_commit(db.session, lambda: ran.append("sent"))
    assert ran == []

    db.session.commit()

    assert ran == ["sent"]


def test_after_commit_is_dropped_on_rollback(app):
    ran: list[str] = []
    after_commit(db.session, lambda: ran.append("sent"))

    db.session.rollback()
    db.session.commit()

    assert ran == []
