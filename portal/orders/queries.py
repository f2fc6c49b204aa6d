"""Read-only queries behind the client's seat and order pages, always scoped by the client.

A client user sees only the seats assigned to them (matched by their e-mail / UPN); everything
else about the client is the administrators' business.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Select, func, or_, select
from sqlalchemy.orm import joinedload

from portal.accounts.models import ApiToken, Client, EndUser, Role, User
from portal.catalog.models import Product
from portal.db import db
from portal.listing import Page, SortKey, contains, keyset_page
from portal.orders.models import DesiredState, Order, Seat, SeatState

# Primary keys are PostgreSQL INTEGERs; a larger number in a URL or a form names nothing (and
# SQLite would refuse to even compare it), so lookups answer "not found" without asking.
MAX_ID = 2**31 - 1


def is_possible_id(value: int) -> bool:
    return 0 < value <= MAX_ID


def visible_seats_query(user: User, client: Client) -> Select[Seat]:
    query = (
        select(Seat)
        .options(joinedload(Seat.product), joinedload(Seat.end_user))
        .where(Seat.client_id == client.id)
    )
    if user.role is not Role.CLIENT_ADMIN:
        query = query.join(EndUser, Seat.end_user_id == EndUser.id).where(
            EndUser.client_id == client.id, EndUser.email == user.email
        )
    return query


def visible_seat(user: User, client: Client, seat_id: int) -> Seat | None:
    if not is_possible_id(seat_id):
        return None
    return db.session.scalars(visible_seats_query(user, client).where(Seat.id == seat_id)).first()


SEAT_KEYS = (SortKey(Seat.id),)
# Newest first, as the history always read.
ORDER_KEYS = (SortKey(Order.created_at, descending=True), SortKey(Order.id, descending=True))


def seat_page(
    user: User, client: Client, *, include_cancelled: bool, search: str, cursor: str | None, limit: int
) -> Page[Seat]:
    """One page of the seats the user may see, in id order; ``search`` matches the person or product."""
    query = visible_seats_query(user, client)
    if not include_cancelled:
        query = query.where(Seat.state != SeatState.TERMINATED)
    if search:
        if user.role is Role.CLIENT_ADMIN:
            # A client user's query is joined to their own person already.
            query = query.outerjoin(EndUser, EndUser.id == Seat.end_user_id)
        query = query.join(Product, Product.id == Seat.product_id).where(
            or_(contains(EndUser.search_text, search), contains(func.lower(Product.name), search))
        )
    return keyset_page(
        query, SEAT_KEYS, lambda seat: (seat.id,), list_name="seats", cursor=cursor, limit=limit, scalars=True
    )


def visible_seats(
    user: User, client: Client, *, ids: Iterable[int] | None = None, include_cancelled: bool = True
) -> list[Seat]:
    query = visible_seats_query(user, client).order_by(Seat.id)
    if ids is not None:
        query = query.where(Seat.id.in_([seat_id for seat_id in ids if is_possible_id(seat_id)]))
    if not include_cancelled:
        query = query.where(Seat.state != SeatState.TERMINATED)
    return list(db.session.scalars(query))


@dataclass(frozen=True)
class ProductSeatCounts:
    product: Product
    by_state: dict[SeatState, int]

    @property
    def in_use(self) -> int:
        return sum(count for state, count in self.by_state.items() if state is not SeatState.TERMINATED)


def seat_counts_by_product(client: Client) -> list[ProductSeatCounts]:
    """Per product the client has seats of: how many seats are in each state."""
    rows = db.session.execute(
        select(Seat.product_id, Seat.state, func.count(Seat.id))
        .where(Seat.client_id == client.id)
        .group_by(Seat.product_id, Seat.state)
    ).all()
    counts: dict[int, dict[SeatState, int]] = {}
    for product_id, state, count in rows:
        counts.setdefault(product_id, {})[state] = count
    if not counts:
        return []
    products = db.session.scalars(
        select(Product).where(Product.id.in_(counts)).order_by(Product.price_minor, Product.code)
    )
    return [ProductSeatCounts(product, counts[product.id]) for product in products]


def wanted_seats(client: Client, product: Product) -> list[Seat]:
    """The seats of a product the client still wants (not cancelled), oldest first."""
    return list(
        db.session.scalars(
            select(Seat)
            .options(joinedload(Seat.end_user))
            .where(
                Seat.client_id == client.id,
                Seat.product_id == product.id,
                Seat.desired_state != DesiredState.TERMINATED,
            )
            .order_by(Seat.id)
        )
    )


def wanted_seat_counts(client: Client) -> dict[int, int]:
    """Product id → number of its seats the client still wants."""
    rows = db.session.execute(
        select(Seat.product_id, func.count(Seat.id))
        .where(Seat.client_id == client.id, Seat.desired_state != DesiredState.TERMINATED)
        .group_by(Seat.product_id)
    ).all()
    return {product_id: count for product_id, count in rows}


def seats_of_kind_held_by(client: Client, product: Product, end_user_ids: list[int]) -> dict[int, int]:
    """End user id → a wanted seat of the same kind of product they already hold."""
    if not end_user_ids:
        return {}
    rows = db.session.execute(
        select(Seat.end_user_id, Seat.id)
        .join(Product, Product.id == Seat.product_id)
        .where(
            Seat.client_id == client.id,
            Seat.end_user_id.in_(end_user_ids),
            Product.kind == product.kind,
            Seat.desired_state != DesiredState.TERMINATED,
        )
        .order_by(Seat.id)
    ).all()
    return {end_user_id: seat_id for end_user_id, seat_id in rows if end_user_id is not None}


def client_end_users(client: Client) -> list[EndUser]:
    return list(
        db.session.scalars(
            select(EndUser).where(EndUser.client_id == client.id).order_by(EndUser.name, EndUser.id)
        )
    )


@dataclass(frozen=True)
class OrderRow:
    order: Order
    placed_by: str
    states: dict[SeatState, int]


def order_history(
    client: Client, *, search: str, cursor: str | None, per_page: int
) -> tuple[list[OrderRow], Page[Any]]:
    """One page of the client's orders, newest first; ``search`` matches the product's name."""
    query = (
        select(Order, User.email, ApiToken.name)
        .options(joinedload(Order.product))
        .outerjoin(User, User.id == Order.placed_by_user_id)
        .outerjoin(ApiToken, ApiToken.id == Order.placed_by_token_id)
        .where(Order.client_id == client.id)
    )
    if search:
        query = query.join(Product, Product.id == Order.product_id).where(
            contains(func.lower(Product.name), search)
        )
    page = keyset_page(
        query,
        ORDER_KEYS,
        lambda row: (row[0].created_at, row[0].id),
        list_name="orders",
        cursor=cursor,
        limit=per_page,
    )
    rows = page.rows
    order_ids = [order.id for order, _email, _token in rows]
    states: dict[int, dict[SeatState, int]] = {order_id: {} for order_id in order_ids}
    if order_ids:
        for order_id, state, count in db.session.execute(
            select(Seat.order_id, Seat.state, func.count(Seat.id))
            .where(Seat.order_id.in_(order_ids))
            .group_by(Seat.order_id, Seat.state)
        ):
            states[order_id][state] = count
    result = []
    for order, email, token_name in rows:
        if email:
            placed_by = email
        elif token_name:
            placed_by = f"API token “{token_name}”"
        else:
            placed_by = "your provider"
        result.append(OrderRow(order=order, placed_by=placed_by, states=states[order.id]))
    return result, page


def client_order(client: Client, order_id: int) -> Order | None:
    if not is_possible_id(order_id):
        return None
    return db.session.scalars(
        select(Order)
        .options(joinedload(Order.product))
        .where(Order.id == order_id, Order.client_id == client.id)
    ).first()
