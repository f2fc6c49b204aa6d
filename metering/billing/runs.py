"""Running a month close or finalize from an edge (command, API request, bench): it commits.

A close commits once per client, so a failure at one client rolls back that client only and the
others keep their drafts; the month counts as closed only when every client went through.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from zoneinfo import ZoneInfo

from sqlalchemy.exc import IntegrityError

from metering.billing.close import CloseOutcome, close_client, prepare_close, record_close_completed
from metering.billing.finalize import finalize_period
from metering.periods import BillingPeriod
from portal.audit.services import Actor, record
from portal.db import db
from portal.errors import ServiceError

log = logging.getLogger("seatmeter.billing")


@dataclass
class CloseSummary:
    period: BillingPeriod
    clients: int
    outcomes: Counter[str] = field(default_factory=Counter)
    failures: dict[str, str] = field(default_factory=dict)  # client ref -> why

    @property
    def complete(self) -> bool:
        return not self.failures


def _no_progress(items: Iterable[int]) -> Iterable[int]:
    return items


def run_close(
    actor: Actor,
    period: BillingPeriod,
    tz: ZoneInfo,
    now: datetime,
    progress: Callable[[Iterable[int]], Iterable[int]] = _no_progress,
) -> CloseSummary:
    plan = prepare_close(period, tz, now)
    db.session.commit()  # end the read; each client gets its own transaction
    summary = CloseSummary(period=period, clients=len(plan.client_ids))
    for client_id in progress(plan.client_ids):
        try:
            outcome = close_client(actor, plan, client_id)
            db.session.commit()
        except (ServiceError, IntegrityError, ValueError, KeyError) as error:
            db.session.rollback()
            ref = plan.refs.get(client_id, str(client_id))
            summary.failures[ref] = str(error)
            log.error("month close %s: client %s failed: %s", period, ref, error)
            continue
        summary.outcomes[outcome.value] += 1
    if summary.complete:
        record_close_completed(plan)
    record(
        actor,
        "billing.period_closed",
        "billing_period",
        str(period),
        details={"clients": summary.clients, **summary.outcomes, "failed": sorted(summary.failures)},
    )
    db.session.commit()
    return summary


def run_finalize(actor: Actor, period: BillingPeriod, tz: ZoneInfo, now: datetime) -> int:
    invoices = finalize_period(actor, period, tz, now)
    db.session.commit()  # the pushes to Stripe are enqueued by this commit
    return len(invoices)


__all__ = ["CloseOutcome", "CloseSummary", "run_close", "run_finalize"]
