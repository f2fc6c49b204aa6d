"""Celery tasks of true-ups: the nightly discovery run, and removing an account a person chose to remove.

Each task is the edge of its unit of work and commits. The platforms are read before any database
work, so no transaction is open while they answer.
"""

from __future__ import annotations

import logging
import random
from typing import Any

from celery import Task, shared_task

from portal.audit.services import Actor
from portal.transactions import task_transaction
from provisioning.adapters.base import AdapterError
from provisioning.trueup.platforms import read_platforms
from provisioning.trueup.removal import remove_account_now
from provisioning.trueup.services import run_discovery

log = logging.getLogger("seatmeter.trueup")
NIGHTLY = Actor.system("true-up (nightly)")
REMOVAL_RETRIES = 6


@shared_task(name="trueup.run")
def nightly_run() -> dict[str, Any]:
    """Find what the platforms have that nobody bills, and settle what the policies settle."""
    readings = read_platforms()
    with task_transaction():
        run = run_discovery(NIGHTLY, readings)
    log.info("true-up run #%s: %s; not read: %s", run.id, run.summary, run.problems or "none")
    return {"summary": run.summary, "problems": run.problems}


@shared_task(bind=True, name="trueup.remove_account", max_retries=REMOVAL_RETRIES, acks_late=True)
def remove_account(self: Task, finding_id: int) -> str:
    """Remove an unbilled account from its platform; a busy platform is tried again with backoff."""
    give_up = self.request.retries >= REMOVAL_RETRIES
    try:
        return remove_account_now(finding_id, give_up=give_up)
    except AdapterError as error:  # raised by the platform call, between two committed blocks
        delay = random.uniform(0.5, 1.0) * min(900, 10 * 2**self.request.retries)  # nosec B311  # retry jitter, not a secret
        log.info(
            "removing finding #%s's account failed (%s); again in %.0fs", finding_id, error.message, delay
        )
        raise self.retry(countdown=delay) from None
