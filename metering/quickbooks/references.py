"""The records of what was sent, and what documents refer to: Customers and Service Items."""

from __future__ import annotations

from typing import Any

from quickbooks.exceptions import QuickbooksException
from sqlalchemy import select

from metering.quickbooks.api import Api, digest_of, quote, request_id
from metering.quickbooks.models import (
    CREDIT_ITEM_LOCAL_ID,
    QuickBooksConnection,
    QuickBooksRecord,
    RecordKind,
    SyncStatus,
)
from portal.accounts.models import Client
from portal.catalog.models import Product
from portal.db import db

STALE_OBJECT = 5010
MAX_NAME = 100  # Item Name
MAX_DISPLAY_NAME = 500
CREDIT_ITEM_NAME = "Credit note"


class Refused(Exception):
    """QuickBooks (or a check made before asking it) refused this document; the reason is plain words."""


def record_for(kind: RecordKind, local_id: int, label: str, client_id: int | None) -> QuickBooksRecord:
    found = db.session.scalars(
        select(QuickBooksRecord).where(QuickBooksRecord.kind == kind, QuickBooksRecord.local_id == local_id)
    ).one_or_none()
    if found is None:
        found = QuickBooksRecord(
            kind=kind,
            local_id=local_id,
            label=label,
            client_id=client_id,
            status=SyncStatus.PENDING,
            attempts=0,
        )
        db.session.add(found)
        db.session.flush()
    return found


def mark_done(record: QuickBooksRecord, obj: dict[str, Any], digest: str, reason: str | None = None) -> None:
    record.qbo_id = str(obj["Id"])
    record.sync_token = str(obj.get("SyncToken", "0"))
    record.content_digest = digest
    record.status = SyncStatus.DONE
    record.reason = reason


def mark_conflict(record: QuickBooksRecord, what: str) -> None:
    record.status = SyncStatus.CONFLICT
    record.reason = (
        f"{what} was changed in QuickBooks after Seatmeter sent it. Seatmeter leaves QuickBooks' version "
        "as it "
        "is; compare the two and correct QuickBooks by hand if needed."
    )


def refusal_reason(error: QuickbooksException) -> str:
    detail = f": {error.detail}" if error.detail else ""
    return f"QuickBooks refused it (error {error.error_code}, {error.message}{detail})"


# --- what refers to what: customers and items


def _customer_body(client: Client) -> dict[str, Any]:
    body: dict[str, Any] = {"DisplayName": client.name[:MAX_DISPLAY_NAME], "CompanyName": client.name}
    if client.billing_email:
        body["PrimaryEmailAddr"] = {"Address": client.billing_email}
    if client.billing_address:
        body["BillAddr"] = {"Line1": client.billing_address[:500]}
    return body


def ensure_customer(api: Api, client: Client) -> str:
    record = record_for(RecordKind.CUSTOMER, client.id, client.name, client.id)
    body = _customer_body(client)
    digest = digest_of(body)
    if record.qbo_id and record.status in (SyncStatus.DONE, SyncStatus.CONFLICT):
        if record.status is SyncStatus.DONE and record.content_digest != digest:
            send_update(api, record, "Customer", body, digest, f"Customer “{client.name}”")
        return record.qbo_id
    record.attempts += 1
    matches = api.query("Customer", f"DisplayName = '{quote(body['DisplayName'])}'")
    if not matches and client.billing_email:
        matches = api.query("Customer", f"PrimaryEmailAddr = '{quote(client.billing_email)}'")
    if matches:
        mark_done(record, matches[0], digest, "Matched the customer already in QuickBooks.")
    else:
        try:
            mark_done(record, api.write("Customer", body, request_id(record.kind, client.id, digest)), digest)
        except QuickbooksException as error:
            mark_failed(record, refusal_reason(error))
            raise Refused(f"Its customer “{client.name}” could not be made: {record.reason}") from None
    assert record.qbo_id is not None
    return record.qbo_id


def ensure_item(api: Api, connection: QuickBooksConnection, product: Product | None) -> str:
    local_id = product.id if product is not None else CREDIT_ITEM_LOCAL_ID
    name = (product.name if product is not None else CREDIT_ITEM_NAME).replace(":", "-")[:MAX_NAME]
    record = record_for(RecordKind.ITEM, local_id, name, None)
    if record.qbo_id and record.status in (SyncStatus.DONE, SyncStatus.CONFLICT):
        return record.qbo_id
    if connection.income_account_id is None:
        raise Refused("Pick the income account for Seatmeter's products on the QuickBooks page first.")
    body: dict[str, Any] = {
        "Name": name,
        "Type": "Service",
        "IncomeAccountRef": {"value": connection.income_account_id},
        "Description": product.name if product is not None else "Credit given back to the client",
    }
    digest = digest_of(body)
    record.attempts += 1
    matches = api.query("Item", f"Name = '{quote(name)}'")
    if matches:
        mark_done(record, matches[0], digest, "Matched the item already in QuickBooks.")
    else:
        try:
            mark_done(record, api.write("Item", body, request_id(record.kind, local_id, digest)), digest)
        except QuickbooksException as error:
            mark_failed(record, refusal_reason(error))
            raise Refused(f"Its item “{name}” could not be made: {record.reason}") from None
    assert record.qbo_id is not None
    return record.qbo_id


def send_update(
    api: Api, record: QuickBooksRecord, entity: str, body: dict[str, Any], digest: str, what: str
) -> None:
    """Send a changed customer as a sparse update on the SyncToken last seen; a stale one is a conflict."""
    update = {**body, "Id": record.qbo_id, "SyncToken": record.sync_token, "sparse": True}
    try:
        mark_done(record, api.write(entity, update, request_id(record.kind, record.local_id, digest)), digest)
    except QuickbooksException as error:
        if error.error_code == STALE_OBJECT:
            mark_conflict(record, what)
        else:
            record.reason = f"The change was not sent: {refusal_reason(error)}"


def mark_failed(record: QuickBooksRecord, reason: str) -> None:
    record.status = SyncStatus.FAILED
    record.reason = reason
