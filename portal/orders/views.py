"""Client administrators: the catalog, ordering seats with a confirmation step, and order history.

Ordering is two POSTs: the order form is checked and answered with a confirmation page that quotes
the monthly price; placing the order sends the same choices again, which are checked again against
the database. Nothing on the confirmation page is trusted for the price.
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass

from flask import Blueprint, abort, flash, redirect, render_template, request, session, url_for
from werkzeug.wrappers import Response

from metering import MonthEstimate, Price, billing_timezone, estimate_month, product_price
from portal.accounts.models import Client, EndUser, Role
from portal.accounts.views import apply_service_error
from portal.audit.services import Actor
from portal.auth.access import current_client, current_portal_user, roles_required
from portal.catalog.models import Product, ProductBilling
from portal.catalog.services import get_product, list_products
from portal.db import utcnow
from portal.errors import Conflict, NotFound
from portal.listing import clean_search
from portal.orders.forms import (
    OrderForm,
    PlaceOrderForm,
    ReduceSeatsForm,
    SeatCountForm,
    end_user_choices,
)
from portal.orders.models import DesiredState, Seat
from portal.orders.queries import (
    client_end_users,
    client_order,
    is_possible_id,
    order_history,
    seats_of_kind_held_by,
    visible_seats,
    wanted_seat_counts,
    wanted_seats,
)
from portal.orders.seat_status import bills_while_unassigned
from portal.orders.services import get_seat_for_client
from portal.transactions import web_transaction
from provisioning import MAX_SEATS_PER_ORDER, NAMED_USER_KINDS, cancel_seat, place_order

bp = Blueprint("orders", __name__, url_prefix="/client")

ORDERS_PER_PAGE = 50
# Confirmations a browser session may hold open at once (several tabs); older ones expire.
_OPEN_CONFIRMATIONS = 20
_CONFIRMATIONS_KEY = "order_confirmations"


# What a product code can look like; anything else in the URL names no product (and a NUL byte
# would not even reach PostgreSQL).
_PRODUCT_CODE = re.compile(r"[a-z0-9][a-z0-9-]{0,31}")


def product_or_404(code: str, *, orderable: bool = True) -> Product:
    """A product that has seats: metered products (call minutes) are billed by use, never ordered."""
    if not _PRODUCT_CODE.fullmatch(code):
        abort(404)
    try:
        product = get_product(code)
    except NotFound:
        abort(404)
    if product.billing is not ProductBilling.PER_USER or (orderable and not product.active):
        abort(404)
    return product


@dataclass(frozen=True)
class QuoteLine:
    person: EndUser
    # The person already holds a seat of this product: SPLA-style billing counts them once.
    already_counted: bool
    monthly_minor: int


@dataclass(frozen=True)
class Quote:
    """What an order of ``quantity`` seats of ``product`` adds to the monthly bill, at today's price."""

    product: Product
    quantity: int
    lines: list[QuoteLine]
    unassigned: int
    # The product's seats are in service from the start (a VoIP extension needs no person), so an
    # unassigned one bills one unit a month as a working service does.
    bills_unassigned: bool
    # The price the month close rates the product at (the same source as the estimates below).
    unit_price: Price
    # The month in progress as its close would bill it: as things are, and once the chosen people
    # hold their seats (commitments and people already counted this month are the close's business).
    month_now: MonthEstimate
    month_with_order: MonthEstimate

    @property
    def unit_minor(self) -> int:
        return self.unit_price.amount_minor

    @property
    def currency(self) -> str:
        return self.unit_price.currency

    @property
    def assigned_monthly_minor(self) -> int:
        return sum(line.monthly_minor for line in self.lines)

    @property
    def all_assigned_monthly_minor(self) -> int:
        return self.assigned_monthly_minor + self.unassigned * self.unit_minor

    @property
    def in_service_monthly_minor(self) -> int:
        """A month of these seats as soon as they are in service, assigned or not."""
        unassigned = self.unassigned * self.unit_minor if self.bills_unassigned else 0
        return self.assigned_monthly_minor + unassigned


def quote(client: Client, product: Product, quantity: int, people: list[EndUser]) -> Quote:
    now, tz = utcnow(), billing_timezone()
    month_now = estimate_month(client, now, tz)
    bills_unassigned = bills_while_unassigned(product)
    unassigned = quantity - len(people)
    in_service = {product.code: unassigned} if bills_unassigned and unassigned else None
    month_with_order = (
        estimate_month(client, now, tz, adding={product.code: people}, in_service=in_service)
        if people or in_service
        else month_now
    )
    unit_price = month_now.prices[product.code]
    holders = {seat.end_user_id for seat in wanted_seats(client, product) if seat.end_user_id is not None}
    lines = [
        QuoteLine(
            person=person,
            already_counted=person.id in holders,
            monthly_minor=0 if person.id in holders else unit_price.amount_minor,
        )
        for person in people
    ]
    return Quote(
        product=product,
        quantity=quantity,
        lines=lines,
        unassigned=unassigned,
        bills_unassigned=bills_unassigned,
        unit_price=unit_price,
        month_now=month_now,
        month_with_order=month_with_order,
    )


def _open_confirmation() -> str:
    nonce = secrets.token_urlsafe(16)
    session[_CONFIRMATIONS_KEY] = [*session.get(_CONFIRMATIONS_KEY, [])[-(_OPEN_CONFIRMATIONS - 1) :], nonce]
    return nonce


def _close_confirmation(nonce: str | None) -> bool:
    """Use up a confirmation; False if it was used already (a second click, a resent form)."""
    open_ones = list(session.get(_CONFIRMATIONS_KEY, []))
    if not nonce or nonce not in open_ones:
        return False
    open_ones.remove(nonce)
    session[_CONFIRMATIONS_KEY] = open_ones
    return True


def _chosen_people(client: Client, ids: list[int]) -> list[EndUser]:
    by_id = {person.id: person for person in client_end_users(client)}
    return [by_id[person_id] for person_id in ids if person_id in by_id]


def render_confirmation(
    client: Client,
    product: Product,
    quantity: int,
    people: list[EndUser],
    *,
    status: int = 200,
    notice: str | None = None,
    form: PlaceOrderForm | None = None,
) -> tuple[str, int]:
    """The page that quotes the order and carries a fresh confirmation to place it."""
    quoted = quote(client, product, quantity, people)
    place_form = PlaceOrderForm(
        formdata=None,
        quantity=quantity,
        end_users=[person.id for person in people],
        quoted_unit_minor=str(quoted.unit_minor),
        nonce=_open_confirmation(),
    )
    place_form.end_users.choices = end_user_choices(people)
    if form is not None:
        place_form.form_errors.extend(form.form_errors)
    return render_template(
        "client/order_confirm.html",
        product=product,
        quote=quoted,
        form=place_form,
        notice=notice,
    ), status


def _order_page(product: Product, form: OrderForm, status: int = 200) -> tuple[str, int]:
    return (
        render_template(
            "client/order.html",
            product=product,
            form=form,
            bills_unassigned=bills_while_unassigned(product),
        ),
        status,
    )


@bp.route("/catalog")
@roles_required(Role.CLIENT_ADMIN)
def catalog() -> str:
    client = current_client()
    products = list_products()
    return render_template(
        "client/catalog.html",
        products=[product for product in products if product.billing is ProductBilling.PER_USER],
        metered=[product for product in products if product.billing is ProductBilling.METERED],
        seat_counts=wanted_seat_counts(client),
    )


@bp.route("/catalog/<code>/order", methods=["GET", "POST"])
@roles_required(Role.CLIENT_ADMIN)
def order(code: str) -> tuple[str, int]:
    client = current_client()
    product = product_or_404(code)
    form = OrderForm()
    form.end_users.choices = end_user_choices(client_end_users(client))
    if not form.is_submitted():
        return _order_page(product, form)
    if not form.validate():
        return _order_page(product, form, 422)
    people = _chosen_people(client, form.end_users.data or [])
    if product.kind in NAMED_USER_KINDS:
        # Said now rather than after "Place the order": a desktop or mailbox account is named
        # after its person, so nobody holds two of a kind.
        held = seats_of_kind_held_by(client, product, [person.id for person in people])
        if held:
            names = ", ".join(
                f"{person.name} (seat #{held[person.id]})" for person in people if person.id in held
            )
            form.end_users.errors = [
                *form.end_users.errors,
                f"Already has a {product.kind.value} seat: {names}.",
            ]
            return _order_page(product, form, 422)
    return render_confirmation(client, product, form.quantity.data or 0, people)


@bp.route("/catalog/<code>/order/place", methods=["POST"])
@roles_required(Role.CLIENT_ADMIN)
def place(code: str) -> Response | tuple[str, int]:
    client = current_client()
    product = product_or_404(code)
    form = PlaceOrderForm()
    form.end_users.choices = end_user_choices(client_end_users(client))
    if not form.validate():
        # Someone removed a person or changed the form since the confirmation: start over.
        return _order_page(product, form, 422)
    if not _close_confirmation(form.nonce.data):
        flash("That confirmation was used already. Your orders are below; nothing was ordered twice.", "info")
        return redirect(url_for("orders.history"))
    quantity = form.quantity.data or 0
    people = _chosen_people(client, form.end_users.data or [])
    if form.quoted_unit_minor.data != str(product_price(product).amount_minor):
        return render_confirmation(
            client,
            product,
            quantity,
            people,
            status=409,
            notice="The price changed since you looked. Check the new price and confirm again.",
        )
    with web_transaction() as attempt:
        placed = place_order(Actor.for_user(current_portal_user()), client, product, quantity, people)
    if (error := attempt.error) is not None:
        apply_service_error(form, error)
        if not form.form_errors:
            form.form_errors.append(error.message)
        return render_confirmation(client, product, quantity, people, status=error.http_status, form=form)
    flash(
        f"Order #{placed.id} is placed: {quantity} {product.name} seat{'s' if quantity != 1 else ''}.",
        "success",
    )
    return redirect(url_for("orders.order_detail", order_id=placed.id))


@bp.route("/orders")
@roles_required(Role.CLIENT_ADMIN)
def history() -> str:
    client = current_client()
    search = clean_search(request.args.get("q"))
    rows, page = order_history(
        client, search=search, cursor=request.args.get("cursor"), per_page=ORDERS_PER_PAGE
    )
    return render_template("client/orders.html", rows=rows, page=page, search=search)


@bp.route("/orders/<int:order_id>")
@roles_required(Role.CLIENT_ADMIN)
def order_detail(order_id: int) -> str:
    client = current_client()
    placed = client_order(client, order_id)
    if placed is None:
        abort(404)
    seats = visible_seats(current_portal_user(), client, ids=[seat.id for seat in placed.seats])
    return render_template("client/order_detail.html", order=placed, seats=seats)


def _seat_count_page(
    product: Product, form: SeatCountForm, seats: list[Seat], status: int = 200
) -> tuple[str, int]:
    return render_template("client/seat_count.html", product=product, form=form, seats=seats), status


@bp.route("/catalog/<code>/seats", methods=["GET", "POST"])
@roles_required(Role.CLIENT_ADMIN)
def seat_count(code: str) -> tuple[str, int]:
    """Change the number of seats of a product: more is an order, fewer cancels unassigned seats."""
    client = current_client()
    product = product_or_404(code, orderable=False)
    seats = wanted_seats(client, product)
    form = SeatCountForm(count=len(seats))
    if not form.is_submitted():
        return _seat_count_page(product, form, seats)
    if not form.validate():
        return _seat_count_page(product, form, seats, 422)
    wanted = form.count.data or 0
    if wanted == len(seats):
        form.count.errors = [f"You have {len(seats)} already."]
        return _seat_count_page(product, form, seats, 422)
    if wanted > len(seats):
        more = wanted - len(seats)
        if more > MAX_SEATS_PER_ORDER:
            form.count.errors = [f"Add at most {MAX_SEATS_PER_ORDER} seats at a time."]
            return _seat_count_page(product, form, seats, 422)
        if not product.active:
            form.count.errors = [f"{product.name} cannot be ordered any more."]
            return _seat_count_page(product, form, seats, 422)
        return render_confirmation(client, product, more, [])
    fewer = len(seats) - wanted
    # Only unassigned seats go without asking which: taking someone's desktop away is a choice the
    # administrator makes seat by seat. Newest first, so the oldest (longest set up) seats stay.
    unassigned = [seat for seat in reversed(seats) if seat.end_user_id is None]
    if len(unassigned) < fewer:
        form.count.errors = [
            f"Only {len(unassigned)} of your {len(seats)} seats are unassigned. Unassign or cancel "
            "assigned seats one by one on their pages first."
        ]
        return _seat_count_page(product, form, seats, 422)
    reduce_form = ReduceSeatsForm(formdata=None, seat_ids=[seat.id for seat in unassigned[:fewer]])
    return render_template(
        "client/seat_count_confirm.html",
        product=product,
        to_cancel=unassigned[:fewer],
        remaining=wanted,
        form=reduce_form,
        bills_unassigned=bills_while_unassigned(product),
    ), 200


@bp.route("/catalog/<code>/seats/cancel", methods=["POST"])
@roles_required(Role.CLIENT_ADMIN)
def reduce_seats(code: str) -> Response | tuple[str, int]:
    client = current_client()
    product = product_or_404(code, orderable=False)
    form = ReduceSeatsForm()
    if not form.validate_on_submit() or not form.seat_ids.data:
        abort(400)
    to_cancel = []
    for seat_id in form.seat_ids.data:
        if not is_possible_id(seat_id):
            abort(404)
        try:
            seat = get_seat_for_client(client, seat_id)
        except NotFound:
            abort(404)
        if seat.product_id != product.id:
            abort(404)
        to_cancel.append(seat)
    changed = [seat for seat in to_cancel if seat.desired_state is not DesiredState.TERMINATED]
    with web_transaction() as attempt:
        for seat in changed:
            if seat.end_user_id is not None:
                raise Conflict(
                    f"Seat #{seat.id} was assigned to {seat.end_user.name if seat.end_user else 'someone'} "
                    "in the meantime; nothing was cancelled."
                )
            cancel_seat(Actor.for_user(current_portal_user()), seat)
    if (error := attempt.error) is not None:
        flash(error.message, "error")
        return redirect(url_for("orders.seat_count", code=product.code))
    many = len(changed) != 1
    flash(
        f"{len(changed)} {product.name} seat{'s are' if many else ' is'} being cancelled.",
        "success",
    )
    return redirect(url_for("seats.index"))
