"""Committed-seat contracts: adding, ending and reading the quantities the month close bills at least."""

from __future__ import annotations

from collections import defaultdict

from sqlalchemy import ColumnElement, or_, select
from sqlalchemy.orm import selectinload

from metering.commitments.models import Commitment
from metering.periods import BillingPeriod
from portal.accounts.models import Client
from portal.audit.services import Actor, record
from portal.catalog.models import Product, ProductBilling
from portal.db import db
from portal.errors import Conflict, InvalidInput

MAX_COMMITTED = 100_000


def _active_in(period: BillingPeriod) -> list[ColumnElement[bool]]:
    text = str(period)
    return [Commitment.starts <= text, or_(Commitment.ends.is_(None), Commitment.ends >= text)]


def committed_quantities(period: BillingPeriod) -> dict[int, dict[str, int]]:
    """client id -> product code -> committed seats in ``period``, in one query (for month close)."""
    rows = db.session.execute(
        select(Commitment.client_id, Product.code, Commitment.quantity)
        .join(Product, Product.id == Commitment.product_id)
        .where(*_active_in(period))
    )
    found: defaultdict[int, dict[str, int]] = defaultdict(dict)
    for client_id, code, quantity in rows:
        found[client_id][code] = quantity
    return dict(found)


def committed_quantities_for(client_id: int, period: BillingPeriod) -> dict[str, int]:
    """Product code -> committed seats of one client in ``period`` (restating a finalized month)."""
    rows = db.session.execute(
        select(Product.code, Commitment.quantity)
        .join(Product, Product.id == Commitment.product_id)
        .where(Commitment.client_id == client_id, *_active_in(period))
    )
    return {code: quantity for code, quantity in rows}


def list_commitments(client: Client | None = None) -> list[Commitment]:
    query = select(Commitment).options(selectinload(Commitment.client), selectinload(Commitment.product))
    if client is not None:
        query = query.where(Commitment.client_id == client.id)
    return list(
        db.session.scalars(query.order_by(Commitment.client_id, Commitment.product_id, Commitment.starts))
    )


def add_commitment(
    actor: Actor,
    client: Client,
    product: Product,
    quantity: int,
    starts: BillingPeriod,
    ends: BillingPeriod | None = None,
) -> Commitment:
    problems: dict[str, str] = {}
    if not 1 <= quantity <= MAX_COMMITTED:
        problems["quantity"] = f"From 1 to {MAX_COMMITTED:,} seats."
    if ends is not None and ends < starts:
        problems["ends"] = "The last month comes after the first."
    if product.billing is not ProductBilling.PER_USER:
        problems["product"] = f"{product.name} is billed by use; commitments are for seats."
    if problems:
        raise InvalidInput(" ".join(problems.values()), fields=problems)
    _check_no_overlap(client, product, starts, ends, None)
    commitment = Commitment(
        client=client,
        product=product,
        quantity=quantity,
        starts=str(starts),
        ends=str(ends) if ends else None,
    )
    db.session.add(commitment)
    db.session.flush()
    record(
        actor,
        "commitment.added",
        "commitment",
        commitment.id,
        client_id=client.id,
        details={
            "product": product.code,
            "quantity": quantity,
            "starts": str(starts),
            "ends": commitment.ends,
        },
    )
    return commitment


def end_commitment(actor: Actor, commitment: Commitment, last: BillingPeriod) -> Commitment:
    """The commitment's last billed month becomes ``last`` (earlier than it was, or set at last)."""
    if str(last) < commitment.starts:
        raise InvalidInput("A commitment ends after its first month.", fields={"ends": "Too early."})
    if commitment.ends is not None and str(last) > commitment.ends:
        raise Conflict(f"The commitment already ends in {commitment.ends}.", fields={"ends": "Too late."})
    previous = commitment.ends
    commitment.ends = str(last)
    db.session.flush()
    record(
        actor,
        "commitment.ended",
        "commitment",
        commitment.id,
        client_id=commitment.client_id,
        details={"ends": str(last), "was": previous},
    )
    return commitment


def _check_no_overlap(
    client: Client, product: Product, starts: BillingPeriod, ends: BillingPeriod | None, exclude: int | None
) -> None:
    query = select(Commitment).where(
        Commitment.client_id == client.id,
        Commitment.product_id == product.id,
        or_(Commitment.ends.is_(None), Commitment.ends >= str(starts)),
    )
    if ends is not None:
        query = query.where(Commitment.starts <= str(ends))
    if exclude is not None:
        query = query.where(Commitment.id != exclude)
    other = db.session.scalars(query).first()
    if other is not None:
        until = f"to {other.ends}" if other.ends else "with no end"
        raise Conflict(
            f"{client.name} already commits to {other.quantity} {product.name} seats "
            f"from {other.starts} {until}; end that commitment first.",
            fields={"starts": "Overlaps another commitment."},
        )
