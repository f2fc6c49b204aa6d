"""What the console's QuickBooks page shows and changes: the settings, the records, "sync again"."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from flask import current_app
from quickbooks.exceptions import QuickbooksException
from sqlalchemy import select

from metering.periods import BillingPeriod
from metering.quickbooks.api import Api
from metering.quickbooks.client import QuickBooksBusy, missing_settings, quickbooks_settings
from metering.quickbooks.connection import NeedsReconnect, current_connection
from metering.quickbooks.models import QuickBooksConnection, QuickBooksRecord, RecordKind, SyncStatus
from portal.audit.services import Actor, record
from portal.celery_app import enqueue_after_commit
from portal.db import db
from portal.errors import InvalidInput, ServiceError

SYNC_TASK = "metering.sync_quickbooks"


class QuickBooksUnavailable(ServiceError):
    code = "unavailable"
    http_status = 503


@dataclass(frozen=True)
class Account:
    id: str
    name: str


@dataclass
class SyncOverview:
    missing: list[str]
    connection: QuickBooksConnection | None
    records: list[QuickBooksRecord] = field(default_factory=list)
    counts: dict[SyncStatus, int] = field(default_factory=dict)


def sync_overview() -> SyncOverview:
    connection = current_connection()
    records = list(
        db.session.scalars(
            select(QuickBooksRecord).order_by(QuickBooksRecord.kind, QuickBooksRecord.local_id)
        )
    )
    counts = {status: 0 for status in SyncStatus}
    for item in records:
        counts[item.status] += 1
    # Documents first (what the reseller looks for), then the customers and items they brought along.
    order = {
        RecordKind.INVOICE: 0,
        RecordKind.CREDIT_MEMO: 1,
        RecordKind.PAYMENT: 2,
        RecordKind.CUSTOMER: 3,
        RecordKind.ITEM: 4,
    }
    records.sort(key=lambda item: (order[item.kind], item.local_id))
    return SyncOverview(missing=missing_settings(), connection=connection, records=records, counts=counts)


def income_accounts(connection: QuickBooksConnection, now: datetime) -> list[Account]:
    """The company's Income accounts, read from QuickBooks (may renew the token: the caller commits)."""
    settings = quickbooks_settings()
    if settings is None:
        raise QuickBooksUnavailable("QuickBooks is not configured.")
    api = Api(connection, settings, now)
    try:
        rows = api.call(
            lambda qb: qb.query("select * from Account where AccountType = 'Income' maxresults 200")
        )
    except NeedsReconnect as error:
        raise QuickBooksUnavailable(str(error)) from None
    except (QuickBooksBusy, QuickbooksException):
        raise QuickBooksUnavailable(
            "QuickBooks did not list its accounts just now. Reload the page in a minute."
        ) from None
    return [
        Account(str(row["Id"]), str(row["Name"])) for row in rows.get("QueryResponse", {}).get("Account", [])
    ]


def choose_sync_settings(
    actor: Actor, connection: QuickBooksConnection, account: Account, first_period: BillingPeriod
) -> None:
    """The income account products post to, and the first month whose invoices go to QuickBooks. Flushes."""
    if connection.income_account_id not in (None, account.id):
        done_items = db.session.scalars(
            select(QuickBooksRecord.id).where(
                QuickBooksRecord.kind == RecordKind.ITEM, QuickBooksRecord.status == SyncStatus.DONE
            )
        ).first()
        if done_items is not None:
            raise InvalidInput(
                "Items already made in QuickBooks keep their account; change it there if needed.",
                fields={"account": "Already in use by the items made in QuickBooks."},
            )
    connection.income_account_id = account.id
    connection.income_account_name = account.name
    connection.first_period = str(first_period)
    db.session.flush()
    record(
        actor,
        "quickbooks.settings_changed",
        "quickbooks_connection",
        connection.id,
        details={"income_account": account.name, "first_period": str(first_period)},
    )
    schedule_sync()


def retry_failed(actor: Actor) -> int:
    """ "Sync again": failed documents go back to pending and a run is queued. Flushes."""
    failed = list(
        db.session.scalars(select(QuickBooksRecord).where(QuickBooksRecord.status == SyncStatus.FAILED))
    )
    for item in failed:
        item.status = SyncStatus.PENDING
    db.session.flush()
    record(
        actor,
        "quickbooks.sync_requested",
        "quickbooks_connection",
        None,
        details={"failed_again": len(failed)},
    )
    schedule_sync(force=True)
    return len(failed)


def schedule_sync(*, force: bool = False) -> None:
    """Queue a run once the transaction commits, when a company is connected."""
    if not current_app.config.get("QUICKBOOKS_CLIENT_ID"):
        return
    if force or current_connection() is not None:
        enqueue_after_commit(SYNC_TASK)
