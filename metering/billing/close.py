"""Month close: one draft invoice per client with usage, rebuilt on every re-run while it is a draft.

The close is split so that the edge (the ``billing close`` command, the API) commits once per batch
of clients (``metering.billing.runs``):

* :func:`prepare_close` reads the month in a few aggregate queries (metered usage summed in SQL, late
  changes to earlier months, which clients have ledger intervals) and decides which clients to visit;
  :func:`load_ledger` then reads the intervals of one batch of clients at a time;
* :func:`close_client` counts and rates one client with the pure functions and writes its draft, or,
  inside a batch (``metering.billing.close_batch``), stages it for the batch's multi-row write; the
  common client is counted and rated in SQL instead (``metering.billing.close_sql``);
* :func:`read_month` (the reading) and :func:`rate_client` (the rating) are shared with
  ``metering.billing.estimate``, which reads one client's month in progress the same way, so what a
  client is shown "so far" is what this close will bill for the month;
* :func:`record_close_completed` notes, once every client went through, which ledger snapshot the
  month was billed from (late changes after it become adjustments once the month is finalized).
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol
from zoneinfo import ZoneInfo

from sqlalchemy import func, select

from metering.billing import lifecycle
from metering.billing.catalog import CatalogSnapshot, catalog_snapshot
from metering.billing.drafts import (
    draft_content,
    record_draft_rebuilt,
    record_draft_removed,
    relax_commit_durability,
    stored_signature,
)
from metering.billing.models import BillingPeriodState, Invoice, InvoiceLine, InvoiceStatus, LineKind
from metering.billing.restatement import adjustment_lines, restatement_starts
from metering.commitments.services import committed_quantities, committed_quantities_for
from metering.counting import (
    DeviceSnapshot,
    LicenceInterval,
    count_product_users,
    count_snapshot_devices,
    count_unassigned_seats,
)
from metering.ledger.services import (
    ClientRange,
    clients_with_intervals,
    in_range,
    intervals_by_client,
    intervals_overlapping,
)
from metering.periods import BillingPeriod
from metering.rating import (
    InvoiceLineDraft,
    rate_device_counts,
    rate_metered_usage,
    rate_seat_products,
)
from metering.tax.services import ClientTaxRule, tax_rules_by_client
from metering.usage.models import UsageAction, UsageEvent
from metering.usage.snapshots import averaged_products, device_snapshots
from portal.accounts.models import Client
from portal.audit.services import Actor
from portal.catalog.models import Product
from portal.db import db
from portal.errors import Conflict
from portal.webhooks_out.services import emit


class CloseOutcome(enum.StrEnum):
    CREATED = "created"
    REBUILT = "rebuilt"
    UNCHANGED = "unchanged"
    REMOVED = "removed"  # a draft whose month no longer bills anything
    EMPTY = "empty"  # nothing to bill, no draft
    FINALIZED = "finalized"  # already finalized: never touched


@dataclass
class ClosePlan:
    period: BillingPeriod
    tz: ZoneInfo
    start: datetime
    stop: datetime
    built_at: datetime
    catalog: CatalogSnapshot
    refs: dict[int, str]
    intervals: dict[int, list[LicenceInterval]]
    usage: dict[int, dict[str, int]]
    restate_from: dict[int, datetime]
    # Committed seats per client and product code this month (billed even when nobody used them).
    commitments: dict[int, dict[str, int]] = field(default_factory=dict)
    # Per-device snapshots taken in the month, and the products billed on their average (not peak).
    devices: dict[int, list[DeviceSnapshot]] = field(default_factory=dict)
    averaged: frozenset[str] = frozenset()
    client_ids: list[int] = field(default_factory=list)
    # Clients that had an invoice for the month when the plan was made (any status).
    invoiced: set[int] = field(default_factory=set)
    # The tax each client pays (absent: none, or exempt), applied per line as its draft is written.
    taxes: dict[int, ClientTaxRule] = field(default_factory=dict)
    # Read for the close: ``intervals`` holds one batch's clients at a time (load_ledger), so memory
    # stays flat in the number of clients; ``ledger_clients`` are all those with intervals.
    streamed: bool = False
    ledger_clients: set[int] = field(default_factory=set)


def period_state(period: BillingPeriod) -> BillingPeriodState | None:
    return db.session.get(BillingPeriodState, str(period))


def check_period_over(period: BillingPeriod, tz: ZoneInfo, now: datetime) -> tuple[datetime, datetime]:
    start, stop = period.bounds(tz)
    if now < stop:
        raise Conflict(
            f"{period.label} is not over yet (it ends {stop.astimezone(tz):%Y-%m-%d %H:%M} {tz.key}); "
            "close it after that.",
            fields={"period": "Not over yet."},
        )
    return start, stop


def read_month(
    period: BillingPeriod,
    tz: ZoneInfo,
    now: datetime,
    client: Client | None = None,
    *,
    whole_ledger: bool = True,
    clients: ClientRange | None = None,
) -> ClosePlan:
    """Everything rating reads for ``period``: for every client, or for ``client`` only.

    Every client is read in a few aggregate queries (the close); one client is read with the same
    queries narrowed to it, so estimating one client's month never walks everybody's ledger. One
    client's reading leaves out corrections of finalized months (``restate_from`` stays empty): those
    take queries per corrected month, and they belong to earlier months, not to this one.
    ``client_ids`` is left empty: which clients to visit is the caller's business. Without
    ``whole_ledger`` every client's intervals are left unread (the close reads them a batch at a
    time, :func:`load_ledger`) and only which clients have some is read; ``clients`` narrows the
    clients and the ledger to a range of ids (one batch of a close fanned out over workers).
    """
    start, stop = period.bounds(tz)
    restate_from: dict[int, datetime] = {}
    if client is None:
        refs = {
            key: value
            for key, value in db.session.execute(
                select(Client.id, Client.ref).where(*in_range(Client.id, clients))
            )
        }
        intervals = intervals_by_client(start, stop) if whole_ledger else {}
        commitments = committed_quantities(period)
        restate_from = restatement_starts(period)
    else:
        refs = {client.id: client.ref}
        # The same ledger rows intervals_by_client reads, narrowed to the client in SQL.
        own = list(intervals_overlapping(start, stop, client_id=client.id))
        intervals = {client.id: own} if own else {}
        committed = committed_quantities_for(client.id, period)
        commitments = {client.id: committed} if committed else {}
    plan = ClosePlan(
        period=period,
        tz=tz,
        start=start,
        stop=stop,
        built_at=now,
        catalog=catalog_snapshot(period),
        refs=refs,
        intervals=intervals,
        usage=_metered_usage(start, stop, client.id if client is not None else None),
        restate_from=restate_from,
        commitments=commitments,
        devices=device_snapshots(start, stop, client.id if client is not None else None),
        averaged=averaged_products(),
        taxes=tax_rules_by_client(client.id if client is not None else None),
    )
    if client is None and not whole_ledger:
        plan.streamed = True
        plan.ledger_clients = clients_with_intervals(start, stop, clients)
    return plan


def load_ledger(plan: ClosePlan, client_ids: Sequence[int]) -> None:
    """Read the intervals of these clients (a batch: a range of ids) in place of the last batch's."""
    if not plan.streamed:
        return
    wanted = [client_id for client_id in client_ids if client_id in plan.ledger_clients]
    plan.intervals = intervals_by_client(plan.start, plan.stop, (min(wanted), max(wanted))) if wanted else {}


def prepare_close(
    period: BillingPeriod, tz: ZoneInfo, now: datetime, clients: ClientRange | None = None
) -> ClosePlan:
    """Read everything the month's invoices need and list the clients to visit, in id order.

    ``clients`` (ids from, to; either open) keeps to the clients of one batch.
    """
    check_period_over(period, tz, now)
    state = period_state(period)
    if state is not None and state.finalized_at is not None:
        raise Conflict(
            f"{period.label} is finalized; usage that arrives for it now is billed as adjustment lines "
            "on the next month's invoices.",
            fields={"period": "Already finalized."},
        )
    plan = read_month(period, tz, now, whole_ledger=False, clients=clients)
    drafts = set(
        db.session.scalars(
            select(Invoice.client_id).where(
                Invoice.period == str(period),
                Invoice.status == InvoiceStatus.DRAFT,
                *in_range(Invoice.client_id, clients),
            )
        )
    )
    finalized = set(
        db.session.scalars(
            select(Invoice.client_id).where(
                Invoice.period == str(period),
                Invoice.status != InvoiceStatus.DRAFT,
                *in_range(Invoice.client_id, clients),
            )
        )
    )
    candidates = (
        plan.ledger_clients
        | set(plan.usage)
        | set(plan.devices)
        | set(plan.restate_from)
        | set(plan.commitments)
        | drafts
    )
    plan.client_ids = sorted(client_id for client_id in candidates - finalized if client_id in plan.refs)
    plan.invoiced = drafts | finalized
    return plan


def _metered_usage(
    start: datetime, stop: datetime, client_id: int | None = None
) -> dict[int, dict[str, int]]:
    query = (
        select(UsageEvent.client_id, Product.code, func.sum(UsageEvent.quantity))
        .join(Product, Product.id == UsageEvent.product_id)
        .where(UsageEvent.action == UsageAction.USAGE, UsageEvent.at >= start, UsageEvent.at < stop)
        .group_by(UsageEvent.client_id, Product.code)
    )
    if client_id is not None:
        query = query.where(UsageEvent.client_id == client_id)
    rows = db.session.execute(query)
    usage: dict[int, dict[str, int]] = {}
    for owner, code, quantity in rows:
        usage.setdefault(owner, {})[code] = int(quantity or 0)
    return usage


def rate_client(
    plan: ClosePlan, client_id: int, invoice_id: int | None
) -> list[tuple[LineKind, InvoiceLineDraft]]:
    """The client's lines for the month: its products, its metered usage, then any adjustments."""
    ref = plan.refs[client_id]
    catalog = plan.catalog
    intervals = plan.intervals.get(client_id, ())
    users = count_product_users(intervals, plan.start, plan.stop)
    # Seats in service with nobody counted through them bill one unit each (docs/billing.md).
    unassigned = count_unassigned_seats(intervals, plan.start, plan.stop)
    committed = {(ref, code): quantity for code, quantity in plan.commitments.get(client_id, {}).items()}
    lines = [
        (LineKind.REGULAR, line)
        for line in rate_seat_products(
            users, catalog.prices, plan.period, catalog.names, committed, unassigned_seats=unassigned
        )
    ]
    usage = {(ref, code): quantity for code, quantity in plan.usage.get(client_id, {}).items()}
    lines += [
        (LineKind.REGULAR, line)
        for line in rate_metered_usage(usage, catalog.prices, plan.period, catalog.names)
    ]
    # Device counts are levels: the month's peak (or average) of the snapshots, never their sum.
    devices = count_snapshot_devices(plan.devices.get(client_id, ()), plan.start, plan.stop, plan.averaged)
    lines += [
        (LineKind.REGULAR, line)
        for line in rate_device_counts(devices, catalog.prices, plan.period, catalog.names, plan.averaged)
    ]
    changed_from = plan.restate_from.get(client_id)
    if changed_from is not None:
        lines += [
            (LineKind.ADJUSTMENT, line)
            for line in adjustment_lines(
                client_id, ref, plan.period, changed_from, plan.tz, catalog, invoice_id
            )
        ]
    return lines


class DraftStage(Protocol):
    """Collects a batch of clients' drafts and writes them together (metering.billing.close_batch)."""

    def stage(self, actor: Actor, client_id: int) -> CloseOutcome: ...


# While a batch of clients is closed together, close_client hands each client to the batch instead of
# writing it alone. A context variable rather than a parameter: whatever wraps close_client (the
# run's per-client error handling) keeps its signature, and outside a batch nothing changes.
batch_stage: ContextVar[DraftStage | None] = ContextVar("close_batch_stage", default=None)


def close_client(actor: Actor, plan: ClosePlan, client_id: int) -> CloseOutcome:
    """Build or rebuild this client's draft for the month. Never touches a finalized invoice.

    Inside :func:`metering.billing.close_batch.staged_drafts` the draft is only staged, and written
    with the rest of its batch; otherwise it is written at once.
    """
    stage = batch_stage.get()
    if stage is not None:
        return stage.stage(actor, client_id)
    relax_commit_durability()
    invoice = None
    if client_id in plan.invoiced:
        invoice = db.session.scalars(
            select(Invoice)
            .where(Invoice.client_id == client_id, Invoice.period == str(plan.period))
            .with_for_update()
        ).first()
    # Otherwise the (client, period) unique constraint stops a concurrent close from adding a second.
    if invoice is not None and invoice.status.is_final:
        return CloseOutcome.FINALIZED
    rated = rate_client(plan, client_id, invoice.id if invoice is not None else None)
    if not rated:
        if invoice is None:
            return CloseOutcome.EMPTY
        db.session.delete(invoice)
        db.session.flush()
        record_draft_removed(actor, plan, client_id, invoice.id)
        return CloseOutcome.REMOVED

    content = draft_content(plan, client_id, rated)
    if invoice is not None and stored_signature(invoice.lines) == content.signature:
        invoice.built_at = plan.built_at
        db.session.flush()
        return CloseOutcome.UNCHANGED

    outcome = CloseOutcome.REBUILT
    if invoice is None:
        outcome = CloseOutcome.CREATED
        invoice = lifecycle.new_draft(client_id, plan.period)
        db.session.add(invoice)
    else:
        invoice.lines.clear()
    for column, value in content.invoice.items():
        setattr(invoice, column, value)
    invoice.lines.extend(InvoiceLine(**line) for line in content.lines)
    db.session.flush()
    if outcome is CloseOutcome.REBUILT:
        record_draft_rebuilt(actor, plan, client_id, invoice.id, content)
    return outcome


def record_close_completed(plan: ClosePlan) -> None:
    """Every client of the month went through: the month is billed from the ledger as of ``built_at``."""
    state = period_state(plan.period)
    if state is None:
        state = BillingPeriodState(period=str(plan.period))
        db.session.add(state)
    state.closed_at = plan.built_at
    db.session.flush()
    _announce_closed(state, plan)


def _announce_closed(state: BillingPeriodState, plan: ClosePlan) -> None:
    """``period.closed`` in the close's own transaction: the reseller is told its bills wait for review."""

    def data() -> dict[str, object]:
        drafts = db.session.scalar(
            select(func.count(Invoice.id)).where(
                Invoice.period == str(plan.period), Invoice.status == InvoiceStatus.DRAFT
            )
        )
        return {"period": str(plan.period), "drafts": drafts or 0}

    emit("period.closed", state, data)
