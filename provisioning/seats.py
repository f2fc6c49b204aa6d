"""The seat lifecycle's one owner: every change of what is wanted of a seat happens here.

Ordering seats, assigning, reassigning and unassigning them, cancelling, retrying, resetting a phone
seat's SIP password, suspending and resuming a client's seats, and the true-up's adopt / provision
again / apply the portal's state. Each operation records what is wanted (desired state, end user, a
new revision), shows the step to come and writes the licence ledger in the same transaction, then
queues the work for after the commit. Operations only flush; the edge (request, task, CLI command)
commits. Illegal in the seat's state: Conflict. Nothing else writes a seat's ``desired_state`` or
``revision``.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select

from metering import product_price, record_seat_platform
from portal.accounts.models import Client, ClientStatus, EndUser
from portal.audit.services import Actor, record
from portal.catalog.models import Product, ProductBilling, ProductKind
from portal.db import db
from portal.errors import Conflict, InvalidInput, NotFound
from portal.orders.models import DesiredState, Order, Seat, SeatState
from portal.webhooks_out.services import emit
from provisioning.lifecycle import NAMED_USER_KINDS, access_gone, move, reopen, show_next_step
from provisioning.models import SeatWork
from provisioning.scheduling import schedule

MAX_SEATS_PER_ORDER = 500


def place_order(
    actor: Actor, client: Client, product: Product, quantity: int, end_users: list[EndUser] | None = None
) -> Order:
    """Order ``quantity`` seats; the first ``len(end_users)`` are assigned to those people."""
    end_users = end_users or []
    if not 1 <= quantity <= MAX_SEATS_PER_ORDER:
        raise InvalidInput(
            f"Order from 1 to {MAX_SEATS_PER_ORDER} seats.",
            fields={"quantity": f"From 1 to {MAX_SEATS_PER_ORDER}."},
        )
    if len(end_users) > quantity:
        raise InvalidInput("More people than seats.", fields={"end_users": "At most one person per seat."})
    if len({user.id for user in end_users}) != len(end_users):
        raise InvalidInput("A person appears twice.", fields={"end_users": "Each person once."})
    if any(user.client_id != client.id for user in end_users):
        raise InvalidInput("Unknown end user.", fields={"end_users": "Unknown end user."})
    _lock_people(end_users)
    for user in end_users:
        _check_no_other_seat(product, user, None, field="end_users")
    if not product.active:
        raise InvalidInput(
            f"{product.name} cannot be ordered any more.", fields={"product": "Not available."}
        )
    if product.billing is not ProductBilling.PER_USER:
        raise InvalidInput(
            f"{product.name} is billed by use; it is not ordered as seats.",
            fields={"product": "Billed by use, not ordered."},
        )
    if client.status is ClientStatus.SUSPENDED:
        raise Conflict(f"{client.name} is suspended; orders are paused until it is resumed.")
    order = Order(
        client=client,
        product=product,
        quantity=quantity,
        # The price in force this month, the one the order quote showed (not a later one set ahead).
        unit_price_minor=product_price(product).amount_minor,
        currency=product.currency,
        placed_by_user_id=actor.user_id,
        placed_by_token_id=actor.token_id,
    )
    db.session.add(order)
    for index in range(quantity):
        end_user = end_users[index] if index < len(end_users) else None
        seat = Seat(
            client=client,
            product=product,
            end_user=end_user,
            state=SeatState.ORDERED,
            desired_state=DesiredState.ACTIVE,
        )
        # The workers' bookkeeping is made with the seat (no query per seat to look for it).
        SeatWork.of(seat)
        order.seats.append(seat)
    db.session.flush()
    for seat in order.seats:
        # VoIP seats and assigned seats are created by the workers once this order commits.
        schedule(seat)
    record(
        actor,
        "order.placed",
        "order",
        order.id,
        client_id=client.id,
        details={
            "product": product.code,
            "quantity": quantity,
            "assigned": [user.email for user in end_users],
        },
    )
    emit(
        "order.placed",
        order,
        lambda: {
            "order_id": order.id,
            "client_ref": client.ref,
            "product": product.code,
            "quantity": quantity,
            "unit_price_minor": order.unit_price_minor,
            "currency": order.currency,
            "seat_ids": [seat.id for seat in order.seats],
        },
    )
    return order


def assign_seat(actor: Actor, seat: Seat, end_user: EndUser) -> Seat:
    """Assign the seat to ``end_user``, or reassign it from its current holder."""
    lock_seat(seat)
    if end_user.client_id != seat.client_id:
        raise NotFound(f"No end user #{end_user.id}.", fields={"end_user": "Unknown end user."})
    _require_not_cancelled(seat)
    if seat.desired_state is DesiredState.SUSPENDED:
        raise Conflict(f"Seat #{seat.id} is suspended; it can be assigned once it is resumed.")
    if seat.end_user_id == end_user.id:
        return seat
    _check_no_other_seat(seat.product, end_user, seat, field="end_user")
    previous = seat.end_user
    seat.end_user = end_user
    _hand_over(seat)
    record(
        actor,
        "seat.reassigned" if previous else "seat.assigned",
        "seat",
        seat.id,
        client_id=seat.client_id,
        details={"to": end_user.email, **({"from": previous.email} if previous else {})},
    )
    return seat


def unassign_seat(actor: Actor, seat: Seat) -> Seat:
    """Take the seat away from its end user; a desktop or mailbox account is removed."""
    lock_seat(seat)
    _require_not_cancelled(seat)
    if seat.end_user is None:
        raise Conflict(f"Seat #{seat.id} is not assigned to anyone.")
    previous = seat.end_user
    seat.end_user = None
    _hand_over(seat)
    record(
        actor, "seat.unassigned", "seat", seat.id, client_id=seat.client_id, details={"from": previous.email}
    )
    return seat


def cancel_seat(actor: Actor, seat: Seat) -> Seat:
    """Cancel the seat: its account is removed from the platform and billing stops."""
    lock_seat(seat)
    _require_not_cancelled(seat)
    seat.desired_state = DesiredState.TERMINATED
    seat.revision += 1
    if seat.state is SeatState.FAILED:
        reopen(seat)
    else:
        show_next_step(seat)
    schedule(seat)
    db.session.flush()
    record(actor, "seat.cancelled", "seat", seat.id, client_id=seat.client_id, details={})
    return seat


def retry_seat(actor: Actor, seat: Seat) -> Seat:
    """A seat whose provisioning failed tries again (a new revision, so new idempotency keys)."""
    lock_seat(seat)
    if seat.state is not SeatState.FAILED:
        raise Conflict(f"Seat #{seat.id} has not failed; there is nothing to retry.")
    reason = seat.last_error
    seat.revision += 1
    reopen(seat)
    schedule(seat)
    db.session.flush()
    record(actor, "seat.retried", "seat", seat.id, client_id=seat.client_id, details={"reason": reason})
    return seat


def reset_sip_password(actor: Actor, seat: Seat) -> Seat:
    """Give a VoIP seat's extension a new SIP password, generated by the workers and shown once.

    The old password keeps working until the registrar has the new one; from then on it is refused.
    The new password waits (sealed) for the client admin, as the first one did.
    """
    lock_seat(seat)
    if seat.product.kind is not ProductKind.VOIP:
        raise Conflict(f"Seat #{seat.id} is not a phone seat; it has no SIP password.")
    _require_not_cancelled(seat)
    if seat.desired_state is DesiredState.SUSPENDED:
        raise Conflict(f"Seat #{seat.id} is suspended; its password can be reset once it is resumed.")
    if seat.state is not SeatState.ACTIVE:
        raise Conflict(f"Seat #{seat.id}'s phone is not working yet; try again once it is active.")
    work = SeatWork.of(seat)
    if work.secret_reset_wanted:
        raise Conflict(f"A new password for seat #{seat.id} is already being set.")
    work.secret_reset_wanted = True
    seat.revision += 1
    schedule(seat)
    db.session.flush()
    record(
        actor,
        "seat.password_reset",
        "seat",
        seat.id,
        client_id=seat.client_id,
        details={"external_id": seat.external_id},
    )
    return seat


def suspend_client(actor: Actor, client: Client, reason: str) -> None:
    """Suspend every live seat of the client (dunning, or the reseller's decision). Idempotent."""
    changes = client.status is not ClientStatus.SUSPENDED
    client.status = ClientStatus.SUSPENDED
    changed = _want_for_live_seats(client, DesiredState.ACTIVE, DesiredState.SUSPENDED)
    record(
        actor,
        "client.suspended",
        "client",
        client.id,
        client_id=client.id,
        details={"reason": reason, "seats": changed},
    )
    if changes:
        emit(
            "client.suspended",
            client,
            lambda: {"client_ref": client.ref, "name": client.name, "reason": reason, "seats": changed},
        )


def resume_client(actor: Actor, client: Client) -> None:
    """Lift a suspension: every suspended seat of the client becomes active again. Idempotent."""
    changes = client.status is not ClientStatus.ACTIVE
    client.status = ClientStatus.ACTIVE
    changed = _want_for_live_seats(client, DesiredState.SUSPENDED, DesiredState.ACTIVE)
    record(actor, "client.resumed", "client", client.id, client_id=client.id, details={"seats": changed})
    if changes:
        emit(
            "client.resumed",
            client,
            lambda: {"client_ref": client.ref, "name": client.name, "seats": changed},
        )


# --- True-up settlements: the platform already holds (or lost) the account ---------------------------


def adopt_account_as_seat(
    actor: Actor,
    client: Client,
    product: Product,
    person: EndUser,
    *,
    external_id: str,
    user_key: str,
    enabled: bool,
    now: datetime,
) -> Seat:
    """An account no seat explained becomes a seat of ``client`` for ``person``, active from ``now``.

    An order of one, by whoever settles, so the same checks and records apply as to any order. The
    account exists already: the seat takes its id and its ledger interval opens at ``now``. A
    disabled account is enabled again by the workers, since the seat is wanted active.
    """
    seat = place_order(actor, client, product, 1, [person]).seats[0]
    seat.external_id = external_id
    if product.kind in NAMED_USER_KINDS:
        seat.platform_user, seat.account_end_user_id = user_key, person.id
    move(seat, SeatState.PROVISIONING, now)
    move(seat, SeatState.ACTIVE, now)
    SeatWork.of(seat).sweep_after = None
    if not enabled:
        enforce_seat_state(seat, now)
    return seat


def record_past_seat(
    actor: Actor,
    client: Client,
    product: Product,
    person: EndUser,
    *,
    start: datetime,
    stop: datetime | None,
    now: datetime,
    platform: str | None = None,
) -> Seat:
    """A seat that was in service from ``start`` (to ``stop``) before this installation knew of it.

    For bringing over an earlier system's records (and the demo's year of history): an order of one,
    whose licence ledger shows the months it was in service. A seat still in service (no ``stop``)
    is made again on the platform by the workers, as when a true-up finds its account gone; billing
    pauses only for the minutes that takes. ``platform`` names where an ended seat was held when that
    was not today's adapter for its kind (e.g. a desktop at the colo before the move to WorkSpaces):
    its licences are counted by that placement's bill.
    """
    if not start < (stop or now) <= now:
        raise InvalidInput("A past seat starts before it stops, and both are in the past.")
    if platform is not None and stop is None:
        raise InvalidInput(
            "A seat still in service runs on today's platform; only an ended seat names another."
        )
    order = place_order(actor, client, product, 1, [person])
    order.created_at = start
    seat = order.seats[0]
    if product.kind in NAMED_USER_KINDS:
        seat.account_end_user_id = person.id
    move(seat, SeatState.PROVISIONING, start)
    move(seat, SeatState.ACTIVE, start)
    if stop is None:
        reprovision_seat(seat, now)
    else:
        seat.desired_state = DesiredState.TERMINATED
        seat.revision += 1
        move(seat, SeatState.TERMINATING, stop)
        move(seat, SeatState.TERMINATED, stop)
        if platform is not None:
            record_seat_platform(seat, platform)
    db.session.flush()
    record(
        actor,
        "seat.history_recorded",
        "seat",
        seat.id,
        client_id=client.id,
        details={
            "start": start.isoformat(),
            "stop": stop.isoformat() if stop else None,
            **({"platform": platform} if platform is not None else {}),
        },
    )
    return seat


def reprovision_seat(seat: Seat, now: datetime) -> None:
    """The account is gone: forget its id and let the workers make it again (billing pauses)."""
    seat.revision += 1
    seat.external_id = None
    # The platform has no account for it: nobody gets in through it until it is made again.
    access_gone(seat, now)
    move(seat, SeatState.PROVISIONING, now)
    schedule(seat)


def enforce_seat_state(seat: Seat, now: datetime) -> None:
    """The platform disagrees with the seat: the workers apply the seat's state again.

    The observed state goes through the legal moves to the in-progress state of the step that
    restores it (resuming for an active seat, suspending for a suspended one).
    """
    seat.revision += 1
    if seat.state is SeatState.ACTIVE:
        # An active seat differs from its account only when the account is disabled: nobody gets
        # in through it, so it stops counting now, not when the workers have re-enabled it.
        access_gone(seat, now)
        move(seat, SeatState.SUSPENDING, now)
        move(seat, SeatState.RESUMING, now)
    elif seat.state is SeatState.SUSPENDED:
        move(seat, SeatState.RESUMING, now)
        move(seat, SeatState.SUSPENDING, now)
    schedule(seat)


# --- helpers -------------------------------------------------------------------------------------------


def _want_for_live_seats(client: Client, current: DesiredState, wanted: DesiredState) -> list[int]:
    """Every live seat of the client that wants ``current`` now wants ``wanted``; their ids."""
    changed = []
    for seat in _live_seats(client):
        if seat.desired_state is current:
            seat.desired_state = wanted
            seat.revision += 1
            show_next_step(seat)
            schedule(seat)
            changed.append(seat.id)
    db.session.flush()
    return changed


def _live_seats(client: Client) -> list[Seat]:
    return list(
        db.session.scalars(
            select(Seat)
            .where(Seat.client_id == client.id, Seat.desired_state != DesiredState.TERMINATED)
            .order_by(Seat.id)
        )
    )


def _hand_over(seat: Seat) -> None:
    """The seat's holder changed: a new revision, the step to come shown, the work queued."""
    seat.revision += 1
    db.session.flush()  # end_user_id follows the relationship only when flushed
    show_next_step(seat)
    schedule(seat)
    db.session.flush()


def lock_seat(seat: Seat) -> None:
    """Reload the seat and hold its row until commit (PostgreSQL), so two requests changing the same
    seat at once take turns instead of both deciding from the same old state. SQLite's BEGIN
    IMMEDIATE already serialises writers."""
    # A refresh repeats the loader options the seat was first loaded with; a page that joined its
    # product or person (an outer join) would make a plain FOR UPDATE fail on PostgreSQL, so the
    # lock names the seats table alone.
    db.session.refresh(seat, with_for_update={"of": Seat})


def _require_not_cancelled(seat: Seat) -> None:
    if seat.state is SeatState.TERMINATED or seat.desired_state is DesiredState.TERMINATED:
        raise Conflict(f"Seat #{seat.id} is cancelled.")


def _lock_people(end_users: list[EndUser]) -> None:
    """Hold these people's rows until the commit, so that a concurrent order or assignment for one of
    them waits and then sees the seat this one gives them (PostgreSQL reads only committed rows; the
    check below would otherwise pass in both). In id order, so two such requests cannot deadlock.
    SQLite lets one writer in at a time anyway (BEGIN IMMEDIATE) and ignores FOR UPDATE."""
    if end_users:
        ids = sorted(user.id for user in end_users)
        db.session.execute(
            select(EndUser.id).where(EndUser.id.in_(ids)).order_by(EndUser.id).with_for_update()
        )


def _check_no_other_seat(product: Product, end_user: EndUser, seat: Seat | None, *, field: str) -> None:
    """One desktop and one mailbox per person: the platform account is named after them."""
    if product.kind not in NAMED_USER_KINDS:
        return
    _lock_people([end_user])
    query = (
        select(Seat.id)
        .join(Product, Product.id == Seat.product_id)
        .where(
            Seat.end_user_id == end_user.id,
            Product.kind == product.kind,
            Seat.desired_state != DesiredState.TERMINATED,
        )
    )
    if seat is not None:
        query = query.where(Seat.id != seat.id)
    other = db.session.scalars(query).first()
    if other is not None:
        raise Conflict(
            f"{end_user.name} already has a {product.kind.value} seat (#{other}).",
            fields={field: "Already has one of these."},
        )
