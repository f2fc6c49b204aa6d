"""Beat's housekeeping for sign-in: failed logins and spent one-time links are deleted."""

from __future__ import annotations

from celery import shared_task

from portal.accounts.retention_services import purge_failed_logins, purge_one_time_tokens
from portal.db import utcnow
from portal.transactions import task_transaction


@shared_task(name="accounts.purge_expired")
def purge_expired() -> dict[str, int]:
    """Delete what no longer protects anyone; safe to run any number of times."""
    now = utcnow()
    with task_transaction():
        failed_logins = purge_failed_logins(now)
        one_time_links = purge_one_time_tokens(now)
    return {"failed_logins": failed_logins, "one_time_links": one_time_links}
