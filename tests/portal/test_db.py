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


def test_concurrent_read_then_write_transactions_wait_instead_of_failing_on_sqlite(tmp_path):
    """Two requests that each read then write must both succeed on SQLite (no "database is locked")."""
    import contextlib
    import threading

    from sqlalchemy import text

    from portal.db import build_engine

    engine = build_engine(f"sqlite:///{tmp_path / 'locks.sqlite'}")
    with engine.begin() as connection:
        connection.execute(text("CREATE TABLE counter (n INTEGER)"))
        connection.execute(text("INSERT INTO counter VALUES (0)"))
    errors: list[BaseException] = []
    both_read = threading.Barrier(2, timeout=5)

    def read_then_write() -> None:
        try:
            with engine.begin() as connection:
                n = connection.execute(text("SELECT n FROM counter")).scalar_one()
                with contextlib.suppress(threading.BrokenBarrierError):
                    both_read.wait(timeout=0.5)  # with a deferred BEGIN both would read here first
                connection.execute(text("UPDATE counter SET n = :n"), {"n": n + 1})
        except BaseException as error:  # collected and asserted below
            errors.append(error)

    threads = [threading.Thread(target=read_then_write) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    with engine.connect() as connection:
        final = connection.execute(text("SELECT n FROM counter")).scalar_one()
    engine.dispose()
    assert errors == []
    assert final == 2  # neither update was lost
