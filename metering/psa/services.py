"""The PSA sync: what a finalized month owes the PSA, and setting agreement additions' quantities.

The one owner of :class:`~metering.psa.models.PsaSync` rows. Services flush; the task or the view
around them commits. Every step is safe to repeat: an addition is found again by its agreement and
catalog item before one is created, and a quantity the PSA already holds is not written again, so a
worker killed between the PSA's answer and the commit leaves nothing that the next run cannot finish
without duplicates.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta

from flask import current_app
from sqlalchemy import func, select

from metering.billing.models import Invoice, LineKind
from metering.psa.base import Psa, PsaAddition, PsaError
from metering.psa.connectwise import SETTINGS, ConnectWise, ConnectWiseSettings, missing_settings
from metering.psa.models import PsaCompanyLink, PsaProductLink, PsaSync, PsaSyncState
from portal.audit.services import Actor, record
from portal.celery_app import enqueue_after_commit
from portal.db import db, utcnow
from portal.errors import NotFound, ServiceError

log = logging.getLogger("seatmeter.psa")

SYNC_TASK = "psa.sync_month"


class PsaNotConfigured(ServiceError):
    """Some CONNECTWISE_* setting is missing: the PSA cannot be reached."""


# --- configuration ---------------------------------------------------------------------------------


def psa_missing_settings() -> list[tuple[str, str]]:
    """The settings the PSA sync still needs, each with what it is."""
    return [(name, SETTINGS[name]) for name in missing_settings(current_app.config)]


def psa_configured() -> bool:
    return not missing_settings(current_app.config)


def psa_client() -> Psa:
    settings = ConnectWiseSettings.from_config(current_app.config)
    if settings is None:
        names = ", ".join(name for name, _ in psa_missing_settings())
        raise PsaNotConfigured(f"ConnectWise PSA is not configured: set {names}.")
    return ConnectWise(settings)


# --- what a finalized month owes the PSA -------------------------------------------------------------


def month_quantities(invoice: Invoice) -> dict[int, int]:
    """Product id -> the quantity billed for the invoice's own month (adjustments of earlier months
    are corrections of what was billed then, not this month's licences)."""
    quantities: dict[int, int] = defaultdict(int)
    for line in invoice.lines:
        if line.kind is LineKind.REGULAR and line.period == invoice.period:
            quantities[line.product_id] += line.quantity
    return dict(quantities)


def queue_invoice_sync(invoices: list[Invoice]) -> int:
    """Record what each finalized invoice's month owes the PSA and sync it after the commit.

    A product synced in an earlier month but no longer billed goes to 0: its licences stopped.
    Nothing is recorded while the PSA is not configured (the sync page says what is missing).
    Returns how many records were added.
    """
    if not invoices or not psa_configured():
        return 0
    added = 0
    not_billed = set(
        db.session.scalars(select(PsaProductLink.product_id).where(PsaProductLink.catalog_item_id.is_(None)))
    )
    for invoice in invoices:
        quantities = month_quantities(invoice)
        for product_id in not_billed:
            quantities.pop(product_id, None)
        earlier = db.session.scalars(
            select(PsaSync.product_id)
            .where(PsaSync.client_id == invoice.client_id, PsaSync.period < invoice.period)
            .distinct()
        )
        for product_id in earlier:
            if product_id not in not_billed:
                quantities.setdefault(product_id, 0)
        existing = set(
            db.session.scalars(
                select(PsaSync.product_id).where(
                    PsaSync.client_id == invoice.client_id, PsaSync.period == invoice.period
                )
            )
        )
        for product_id, quantity in sorted(quantities.items()):
            if product_id in existing:
                continue  # finalized once: the month's quantity never changes
            db.session.add(
                PsaSync(
                    client_id=invoice.client_id,
                    product_id=product_id,
                    period=invoice.period,
                    quantity=quantity,
                )
            )
            added += 1
        enqueue_after_commit(SYNC_TASK, invoice.client_id, invoice.period)
    db.session.flush()
    return added


def pending_rows(client_id: int, period: str) -> list[int]:
    return list(
        db.session.scalars(
            select(PsaSync.id)
            .where(
                PsaSync.client_id == client_id,
                PsaSync.period == period,
                PsaSync.state == PsaSyncState.PENDING,
            )
            .order_by(PsaSync.product_id)
        )
    )


def stale_pending(before: datetime) -> list[tuple[int, str]]:
    """(client, month) with pending records untouched since ``before``: their job was lost."""
    rows = db.session.execute(
        select(PsaSync.client_id, PsaSync.period)
        .where(PsaSync.state == PsaSyncState.PENDING, PsaSync.updated_at < before)
        .distinct()
    )
    return [(client_id, period) for client_id, period in rows]


# --- one record's sync ---------------------------------------------------------------------------------
#
# Three steps, each its own unit of work at the task's edge, so the PSA is never called inside a
# database transaction (on SQLite a transaction holds the write lock for its whole life): claim the
# record with a short lease and read what the PSA call needs; call the PSA; record the outcome.


def lease_period() -> timedelta:
    """PSA_LEASE_SECONDS (default 5 minutes): longer than a record's PSA calls (each times out in 35 s)."""
    return timedelta(seconds=int(current_app.config.get("PSA_LEASE_SECONDS") or 300))


@dataclass(frozen=True)
class SyncPlan:
    """What one record's PSA calls need, read from the database while the record was claimed."""

    row_id: int
    period: str
    quantity: int
    agreement_id: int
    catalog_item_id: int
    overwrite: bool
    # Additions Seatmeter wrote to before, newest first: this record's own, then earlier months'.
    known_additions: tuple[int, ...]
    # Addition id -> (the quantity Seatmeter last wrote to it, for which month).
    last_written: dict[int, tuple[int, str]]


@dataclass(frozen=True)
class SyncOutcome:
    state: PsaSyncState
    reason: str | None = None
    addition_id: int | None = None
    psa_quantity: int | None = None


def claim_row(psa_name: str, row_id: int, now: datetime) -> SyncPlan | str:
    """Lease a pending record and read its plan; or the state it is in, "busy" when leased."""
    row = db.session.scalars(select(PsaSync).where(PsaSync.id == row_id).with_for_update()).first()
    if row is None:
        return "gone"
    if row.state is not PsaSyncState.PENDING:
        return row.state.value
    if row.lease_until is not None and row.lease_until > now:
        return "busy"  # another worker has it, or one that died: the sweep comes back later
    row.attempts += 1
    client_link = db.session.scalars(
        select(PsaCompanyLink).where(PsaCompanyLink.client_id == row.client_id)
    ).first()
    if client_link is None:
        return _settle(
            row,
            PsaSyncState.FAILED,
            f"{row.client.name} is not mapped to a {psa_name} company and agreement: "
            "map it on the PSA mapping page.",
            now,
        )
    item_link = db.session.scalars(
        select(PsaProductLink).where(PsaProductLink.product_id == row.product_id)
    ).first()
    if item_link is None or item_link.catalog_item_id is None:
        return _settle(
            row,
            PsaSyncState.FAILED,
            f"{row.product.name} has no {psa_name} catalog item: pick one on the PSA mapping page."
            if item_link is None
            else f"{row.product.name} is marked as not billed through {psa_name} on the PSA mapping page.",
            now,
        )
    done = list(
        db.session.scalars(
            select(PsaSync)
            .where(
                PsaSync.client_id == row.client_id,
                PsaSync.product_id == row.product_id,
                PsaSync.state == PsaSyncState.DONE,
                PsaSync.addition_id.is_not(None),
                PsaSync.id != row.id,
            )
            .order_by(PsaSync.period.desc(), PsaSync.id.desc())
        )
    )
    last_written: dict[int, tuple[int, str]] = {}
    for earlier in done:
        if earlier.addition_id is not None:
            last_written.setdefault(earlier.addition_id, (earlier.quantity, earlier.period))
    known = (
        [row.addition_id]
        if row.addition_id is not None and row.agreement_id == client_link.agreement_id
        else []
    )
    known += [
        earlier.addition_id
        for earlier in done[:1]
        if earlier.addition_id is not None and earlier.agreement_id == client_link.agreement_id
    ]
    row.lease_until = now + lease_period()
    row.agreement_id = client_link.agreement_id
    db.session.flush()
    return SyncPlan(
        row_id=row.id,
        period=row.period,
        quantity=row.quantity,
        agreement_id=client_link.agreement_id,
        catalog_item_id=item_link.catalog_item_id,
        overwrite=row.overwrite,
        known_additions=tuple(dict.fromkeys(known)),
        last_written=last_written,
    )


def _known_addition(psa: Psa, plan: SyncPlan) -> PsaAddition | None:
    for addition_id in plan.known_additions:
        addition = psa.get_addition(plan.agreement_id, addition_id)
        if addition is not None and not addition.cancelled:
            return addition
    return None


def push_plan(psa: Psa, plan: SyncPlan) -> SyncOutcome:
    """Make the PSA's addition hold the plan's quantity. No database here.

    Raises :class:`PsaError` when the PSA fails in a way worth retrying.
    """
    try:
        addition = _known_addition(psa, plan)
        if addition is None:
            # Found by item before one is created: an addition made by an attempt whose record was
            # never committed, or one the reseller made by hand, is used rather than doubled.
            found = psa.find_additions(plan.agreement_id, plan.catalog_item_id)
            addition = found[0] if found else None
        if addition is None:
            created = psa.create_addition(plan.agreement_id, plan.catalog_item_id, plan.quantity)
            return SyncOutcome(PsaSyncState.DONE, addition_id=created.id)
        if addition.quantity == plan.quantity:
            # Already there: written by an attempt whose record was lost, or by hand. Not written again.
            return SyncOutcome(PsaSyncState.DONE, addition_id=addition.id)
        written = plan.last_written.get(addition.id)
        if written is not None and addition.quantity != written[0] and not plan.overwrite:
            return SyncOutcome(
                PsaSyncState.CONFLICT,
                f"The quantity was changed in {psa.name} to {addition.quantity} since Seatmeter set it to "
                f"{written[0]} for {written[1]}; {plan.period} billed {plan.quantity}. "
                "Not overwritten: check the agreement, then overwrite it from this page "
                "if Seatmeter is right.",
                addition_id=addition.id,
                psa_quantity=addition.quantity,
            )
        psa.set_addition_quantity(plan.agreement_id, addition.id, plan.quantity)
        return SyncOutcome(PsaSyncState.DONE, addition_id=addition.id)
    except PsaError as error:
        if error.retryable:
            raise
        return SyncOutcome(PsaSyncState.FAILED, error.message)


def record_outcome(plan: SyncPlan, outcome: SyncOutcome, now: datetime) -> str:
    """Write down what the PSA calls came to, and give up the lease."""
    row = db.session.scalars(select(PsaSync).where(PsaSync.id == plan.row_id).with_for_update()).one()
    row.lease_until = None
    if outcome.addition_id is not None:
        row.addition_id = outcome.addition_id
    row.psa_quantity = outcome.psa_quantity
    return _settle(row, outcome.state, outcome.reason, now)


def _settle(row: PsaSync, state: PsaSyncState, reason: str | None, now: datetime) -> str:
    row.state, row.reason, row.updated_at = state, reason, now
    if state is PsaSyncState.DONE:
        row.synced_at, row.overwrite, row.psa_quantity = now, False, None
    db.session.flush()
    return state.value


def note_retry(row_ids: list[int], reason: str, now: datetime, *, give_up: bool) -> None:
    """After a retryable failure (rolled back): say why the records still wait, or fail them."""
    for row in db.session.scalars(select(PsaSync).where(PsaSync.id.in_(row_ids))):
        if row.state is not PsaSyncState.PENDING:
            continue
        row.lease_until = None
        if give_up:
            _settle(row, PsaSyncState.FAILED, f"{reason} (gave up after {row.attempts} attempts)", now)
        else:
            row.reason, row.updated_at = f"{reason}; trying again shortly.", now
    db.session.flush()


# --- the reseller's "sync again" ------------------------------------------------------------------------


def sync_again(actor: Actor, row_id: int, *, overwrite: bool = False) -> PsaSync:
    """Make a failed or conflicting record pending again and queue its month; ``overwrite`` a conflict."""
    row = db.session.get(PsaSync, row_id)
    if row is None:
        raise NotFound("No such PSA sync record.")
    if row.state is PsaSyncState.DONE:
        return row  # nothing to do: the PSA holds the quantity
    row.overwrite = overwrite and row.state is PsaSyncState.CONFLICT
    row.state, row.updated_at, row.lease_until = PsaSyncState.PENDING, utcnow(), None
    record(
        actor,
        "psa.sync_again",
        "psa_sync",
        row.id,
        client_id=row.client_id,
        details={"period": row.period, "product_id": row.product_id, "overwrite": row.overwrite},
    )
    db.session.flush()
    enqueue_after_commit(SYNC_TASK, row.client_id, row.period)
    return row


def sync_records(limit: int = 500) -> list[PsaSync]:
    """The newest records first, for the sync page."""
    return list(
        db.session.scalars(
            select(PsaSync)
            .order_by(PsaSync.period.desc(), PsaSync.client_id, PsaSync.product_id)
            .limit(limit)
        )
    )


def sync_counts() -> dict[str, int]:
    counts = dict.fromkeys((state.value for state in PsaSyncState), 0)
    for state, count in db.session.execute(select(PsaSync.state, func.count()).group_by(PsaSync.state)):
        counts[PsaSyncState(state).value] = count
    return counts
