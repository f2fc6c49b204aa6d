"""Closing a batch of clients together: one read of their drafts, multi-row writes of the new ones.

:func:`metering.billing.close.close_client` writes one client through the ORM's unit of work, which
costs far more than the SQL it sends (a flush, a SAVEPOINT and a few statements per client). Inside
:func:`staged_drafts` it only stages the client's draft instead; :meth:`DraftBatch.write` then sends
the whole batch in a handful of statements: new invoices in one multi-row ``INSERT … RETURNING``,
every line in one more, and the rebuilt, unchanged and removed drafts in one statement each.

Rating is the same pure Python as for one client, so a batch bills exactly what clients closed one
by one would. A client whose rating fails is dropped from the batch (:meth:`DraftBatch.discard`) and
the others go on; a write of the batch that fails as a whole is the caller's to retry client by client
(:func:`metering.billing.runs.close_clients`). Nothing here commits.
"""

from __future__ import annotations

import enum
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, cast

from sqlalchemy import Table, bindparam, delete, insert, select, text, update

from metering.billing import close, lifecycle
from metering.billing.close import CloseOutcome, ClosePlan, batch_stage, load_ledger
from metering.billing.close_sql import common_clients, write_set_based
from metering.billing.drafts import (
    DraftContent,
    draft_content,
    record_draft_rebuilt,
    record_draft_removed,
    relax_commit_durability,
    stored_signature,
)
from metering.billing.models import Invoice, InvoiceLine, InvoiceStatus
from portal.audit.services import Actor
from portal.db import db

# The tables themselves: Core statements skip the ORM's per-object bookkeeping.
_INVOICES = cast(Table, Invoice.__table__)
_LINES = cast(Table, InvoiceLine.__table__)


@dataclass
class _StoredDraft:
    invoice_id: int
    status: InvoiceStatus
    lines: list[Any] = field(default_factory=list)


@dataclass
class DraftBatch:
    """The staged drafts of one batch of clients, written together by :meth:`write`."""

    plan: ClosePlan
    stored: dict[int, _StoredDraft] = field(default_factory=dict)  # client id -> its invoice now
    created: dict[int, DraftContent] = field(default_factory=dict)
    rebuilt: dict[int, tuple[int, DraftContent]] = field(default_factory=dict)
    unchanged: dict[int, int] = field(default_factory=dict)  # client id -> invoice id
    removed: dict[int, int] = field(default_factory=dict)
    # Clients of the common case, counted, rated and written in SQL (close_sql) as the batch began.
    set_based: dict[int, CloseOutcome] = field(default_factory=dict)
    _audit: list[tuple[Actor, int]] = field(default_factory=list)

    def read(self, client_ids: Sequence[int]) -> None:
        """Lock and read the month's invoices of these clients (and their lines) in two queries."""
        wanted = [client_id for client_id in client_ids if client_id in self.plan.invoiced]
        if not wanted:
            return
        # The batch is a run of ids in order: a range, not a list of hundreds of parameters.
        low, high = min(wanted), max(wanted)
        period = str(self.plan.period)
        rows = db.session.execute(
            select(_INVOICES.c.id, _INVOICES.c.client_id, _INVOICES.c.status)
            .where(_INVOICES.c.period == period, _INVOICES.c.client_id.between(low, high))
            .with_for_update()
        )
        by_id: dict[int, _StoredDraft] = {}
        for invoice_id, client_id, status in rows:
            self.stored[client_id] = by_id[invoice_id] = _StoredDraft(invoice_id, status)
        drafts = [invoice_id for invoice_id, draft in by_id.items() if not draft.status.is_final]
        if not drafts:
            return
        lines = db.session.execute(
            select(_LINES)
            .join(_INVOICES, _INVOICES.c.id == _LINES.c.invoice_id)
            .where(
                _INVOICES.c.period == period,
                _INVOICES.c.client_id.between(low, high),
                _INVOICES.c.status == InvoiceStatus.DRAFT,
            )
            .order_by(_LINES.c.invoice_id, _LINES.c.position)
        )
        for line in lines:
            by_id[line.invoice_id].lines.append(line)

    def stage(self, actor: Actor, client_id: int) -> CloseOutcome:
        """What :func:`~metering.billing.close.close_client` does for one client, left to :meth:`write`."""
        done = self.set_based.get(client_id)
        if done is not None:
            return done
        stored = self.stored.get(client_id)
        # Otherwise the (client, period) unique constraint stops a concurrent close from adding a second.
        if stored is not None and stored.status.is_final:
            return CloseOutcome.FINALIZED
        # Looked up on its module each time, as close_client does, so both paths rate alike.
        rated = close.rate_client(self.plan, client_id, stored.invoice_id if stored is not None else None)
        if not rated:
            if stored is None:
                return CloseOutcome.EMPTY
            self.removed[client_id] = stored.invoice_id
            self._audit.append((actor, client_id))
            return CloseOutcome.REMOVED
        content = draft_content(self.plan, client_id, rated)
        if stored is None:
            self.created[client_id] = content
            return CloseOutcome.CREATED
        if stored_signature(stored.lines) == content.signature:
            self.unchanged[client_id] = stored.invoice_id
            return CloseOutcome.UNCHANGED
        self.rebuilt[client_id] = (stored.invoice_id, content)
        self._audit.append((actor, client_id))
        return CloseOutcome.REBUILT

    def discard(self, client_id: int) -> None:
        """Leave this client out of the write (its close failed after it was staged)."""
        if self.set_based.pop(client_id, None) is CloseOutcome.CREATED:
            drafts = select(_INVOICES.c.id).where(
                _INVOICES.c.client_id == client_id, _INVOICES.c.period == str(self.plan.period)
            )
            db.session.execute(delete(_LINES).where(_LINES.c.invoice_id.in_(drafts)))
            db.session.execute(
                delete(_INVOICES).where(
                    _INVOICES.c.client_id == client_id, _INVOICES.c.period == str(self.plan.period)
                )
            )
        self.created.pop(client_id, None)
        self.rebuilt.pop(client_id, None)
        self.unchanged.pop(client_id, None)
        self.removed.pop(client_id, None)
        self._audit = [(actor, staged_id) for actor, staged_id in self._audit if staged_id != client_id]

    def write(self) -> None:
        """Write every staged draft: a few multi-row statements for the whole batch (flushes only)."""
        session = db.session
        # Whatever the session holds must reach the database before these statements go round it.
        session.flush()
        relax_commit_durability()
        built_at = self.plan.built_at
        if self.unchanged:
            session.execute(
                update(_INVOICES)
                .where(_INVOICES.c.id.in_(list(self.unchanged.values())))
                .values(built_at=built_at)
            )
        replaced = list(self.removed.values()) + [invoice_id for invoice_id, _ in self.rebuilt.values()]
        if replaced:
            session.execute(delete(_LINES).where(_LINES.c.invoice_id.in_(replaced)))
        if self.removed:
            session.execute(delete(_INVOICES).where(_INVOICES.c.id.in_(list(self.removed.values()))))
        if self.rebuilt:
            session.execute(
                update(_INVOICES).where(_INVOICES.c.id == bindparam("invoice_id")),
                [
                    {"invoice_id": invoice_id, **content.invoice}
                    for invoice_id, content in self.rebuilt.values()
                ],
            )
        invoice_ids = {client_id: invoice_id for client_id, (invoice_id, _) in self.rebuilt.items()}
        if self.created:
            rows = [
                {**lifecycle.new_draft_values(client_id, self.plan.period), **content.invoice}
                for client_id, content in self.created.items()
            ]
            inserted = _insert_rows(_INVOICES, rows, returning=("id", "client_id"))
            invoice_ids.update({client_id: invoice_id for invoice_id, client_id in inserted})
        contents = {
            **self.created,
            **{client_id: content for client_id, (_, content) in self.rebuilt.items()},
        }
        lines = [
            {"invoice_id": invoice_ids[client_id], **line}
            for client_id, content in contents.items()
            for line in content.lines
        ]
        if lines:
            _insert_rows(_LINES, lines)
        self._expire_written()
        for actor, client_id in self._audit:
            if client_id in self.removed:
                record_draft_removed(actor, self.plan, client_id, self.removed[client_id])
            else:
                invoice_id, content = self.rebuilt[client_id]
                record_draft_rebuilt(actor, self.plan, client_id, invoice_id, content)

    def _expire_written(self) -> None:
        # Invoices this session already holds were changed behind its back: read them again on use.
        touched = {draft.invoice_id for draft in self.stored.values()}
        if not touched:
            return
        for instance in list(db.session.identity_map.values()):
            if isinstance(instance, Invoice) and instance.id in touched:
                db.session.expire(instance)
            elif isinstance(instance, InvoiceLine) and instance.invoice_id in touched:
                db.session.expunge(instance)


def _insert_rows(
    table: Table, rows: list[dict[str, Any]], returning: tuple[str, ...] = ()
) -> list[tuple[Any, ...]]:
    """Insert ``rows`` (all with the same keys) in one statement; the ``returning`` columns of each.

    On PostgreSQL the rows go as one array per column through ``unnest``: a short statement with a
    parameter per column, where a multi-row ``VALUES`` would have one per value, and the driver's
    work on such a statement's text costs more than the insert. Elsewhere a multi-row ``INSERT``.
    """
    session = db.session
    columns = list(rows[0])
    if session.get_bind().dialect.name != "postgresql":
        statement = insert(table)
        if returning:
            statement = statement.returning(
                *(table.c[name] for name in returning), sort_by_parameter_order=True
            )
            return [tuple(row) for row in session.execute(statement, rows)]
        session.execute(statement, rows)
        return []
    dialect = session.get_bind().dialect
    defaults = _python_defaults(table, columns)
    columns += list(defaults)
    arrays = ", ".join(
        f"CAST(:{name} AS {table.c[name].type.compile(dialect=dialect)}[])" for name in columns
    )
    sql = f"INSERT INTO {table.name} ({', '.join(columns)}) SELECT * FROM unnest({arrays})"  # nosec B608  # column names from the table itself, values bound
    if returning:
        sql += f" RETURNING {', '.join(returning)}"
    values = {name: [_plain(row[name]) for row in rows] for name in columns if name not in defaults}
    values.update({name: [value] * len(rows) for name, value in defaults.items()})
    result = session.execute(text(sql), values)
    return [tuple(row) for row in result] if returning else []


def _python_defaults(table: Table, given: list[str]) -> dict[str, Any]:
    """Python-side defaults (``default=``) of the columns not given: Core fills them in, unnest not."""
    defaults: dict[str, Any] = {}
    for column in table.columns:
        default = column.default
        if column.name in given or default is None:
            continue
        if default.is_scalar:
            defaults[column.name] = getattr(default, "arg")  # noqa: B009  # typed on the subclasses only
        elif default.is_callable:
            # SQLAlchemy wraps the column's function to take an execution context it does not use here.
            defaults[column.name] = getattr(default, "arg")(None)  # noqa: B009
    return defaults


def _plain(value: Any) -> Any:
    # Enums are stored as their values (portal.accounts.models.str_enum); arrays bypass that type.
    return value.value if isinstance(value, enum.Enum) else value


@contextmanager
def staged_drafts(plan: ClosePlan, client_ids: Sequence[int]) -> Iterator[DraftBatch]:
    """Within the block ``close_client`` stages the drafts of ``client_ids``; ``write()`` stores them."""
    batch = DraftBatch(plan)
    common = common_clients(plan, client_ids)
    written = write_set_based(plan, common)
    batch.set_based = {
        client_id: CloseOutcome.CREATED if client_id in written else CloseOutcome.EMPTY
        for client_id in common
    }
    rated_in_python = set(client_ids) - set(common)
    load_ledger(plan, [client_id for client_id in client_ids if client_id in rated_in_python])
    batch.read(client_ids)
    token = batch_stage.set(batch)
    try:
        yield batch
    finally:
        batch_stage.reset(token)


__all__ = ["DraftBatch", "staged_drafts"]
