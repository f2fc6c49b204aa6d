"""Forgetting what sign-in keeps only for a while: failed logins and spent one-time links.

Services flush and never commit; the beat task ``accounts.purge_expired`` commits.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import delete, or_

from portal.accounts.models import FailedLogin, OneTimeToken
from portal.accounts.services import FAILED_LOGIN_WINDOW
from portal.db import db

# Spent links stay a week after they expired or were used, so support can still see that a link
# went out when someone says it never came; the audit log keeps the history after that.
ONE_TIME_TOKEN_RETENTION = timedelta(days=7)


def purge_failed_logins(now: datetime) -> int:
    """Failed logins past the lock window: they no longer count towards any lock."""
    result = db.session.execute(delete(FailedLogin).where(FailedLogin.at <= now - FAILED_LOGIN_WINDOW))
    db.session.flush()
    return result.rowcount or 0  # type: ignore[attr-defined]


def purge_one_time_tokens(now: datetime) -> int:
    """Reset and invitation links that expired or were used more than a retention period ago."""
    cutoff = now - ONE_TIME_TOKEN_RETENTION
    result = db.session.execute(
        delete(OneTimeToken).where(or_(OneTimeToken.expires_at <= cutoff, OneTimeToken.used_at <= cutoff))
    )
    db.session.flush()
    return result.rowcount or 0  # type: ignore[attr-defined]
