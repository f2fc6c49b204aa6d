"""Beat deletes failed logins past the lock window and spent one-time links; newer rows stay."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from portal.accounts.models import FailedLogin, OneTimeToken, Role, TokenPurpose
from portal.accounts.tasks import purge_expired
from portal.db import db, utcnow


def _token(user, purpose: TokenPurpose, name: str, **times) -> None:
    db.session.add(OneTimeToken(user=user, purpose=purpose, token_hash=name.ljust(64, "0"), **times))


def test_old_failed_logins_and_spent_links_go_newer_ones_stay(app, make_user):
    user = make_user(Role.RESELLER_ADMIN)
    now = utcnow()
    db.session.add_all(
        [
            FailedLogin(email="old@example.com", at=now - timedelta(minutes=16)),
            FailedLogin(email="recent@example.com", at=now - timedelta(minutes=14)),
        ]
    )
    reset = TokenPurpose.PASSWORD_RESET
    _token(user, reset, "expired-long-ago", expires_at=now - timedelta(days=8))
    _token(user, reset, "used-long-ago", expires_at=now + timedelta(hours=1), used_at=now - timedelta(days=8))
    _token(user, reset, "expired-yesterday", expires_at=now - timedelta(days=1))
    _token(user, TokenPurpose.INVITATION, "still-valid", expires_at=now + timedelta(days=6))
    db.session.commit()

    assert purge_expired() == {"failed_logins": 1, "one_time_links": 2}

    db.session.expire_all()
    assert [row.email for row in db.session.scalars(select(FailedLogin))] == ["recent@example.com"]
    kept = {row.token_hash.rstrip("0") for row in db.session.scalars(select(OneTimeToken))}
    assert kept == {"expired-yesterday", "still-valid"}
    assert purge_expired() == {"failed_logins": 0, "one_time_links": 0}  # again: nothing to do


def test_purges_run_on_beat(app):
    schedule = app.extensions["celery"].conf.beat_schedule

    assert schedule["purge-sign-in-records"]["task"] == "accounts.purge_expired"
    assert schedule["purge-idempotency-keys"]["task"] == "api.purge_idempotency_keys"
    assert schedule["purge-sign-in-records"]["schedule"] == 3600
