"""Which seat explains an account, and whose an unexplained account is (client, person).

A seat explains an account when it recorded the account's id, when the platform keeps the seat's id
on the account (WorkSpaces tag, the directory user's seat mark, the SIP extension) and the client
agrees, or, for a seat whose id was never recorded (a worker died), by the name the adapter gives its
person's account. A cancelled seat never explains anything: its leftover account is unbilled.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import selectinload

from portal.accounts.models import Client, EndUser
from portal.catalog.models import Product
from portal.db import db
from portal.orders.models import Seat, SeatState
from provisioning.trueup.platforms import Observed, naming_of


class SeatIndex:
    """The live seats of one product kind, looked up the ways a platform names their accounts."""

    def __init__(self, platform: str, kind: str) -> None:
        self.platform = platform
        self.seats = list(
            db.session.scalars(
                select(Seat)
                .join(Product, Product.id == Seat.product_id)
                .where(Product.kind == kind, Seat.state != SeatState.TERMINATED)
                .options(selectinload(Seat.client), selectinload(Seat.end_user), selectinload(Seat.product))
                .order_by(Seat.id)
            )
        )
        self.kind = kind
        self.by_external = {seat.external_id: seat for seat in self.seats if seat.external_id}
        self.by_id = {seat.id: seat for seat in self.seats}
        self.by_name: dict[str, Seat] = {}
        naming = naming_of(platform, kind)
        for seat in self.seats:
            key = naming.account_name(seat.platform_user) if naming and seat.platform_user else None
            if key and seat.external_id is None:
                self.by_name[key] = seat

    def match(self, observed: Observed) -> Seat | None:
        account = observed.account
        seat = self.by_external.get(account.external_id)
        if seat is not None:
            return seat
        seat = self.by_id.get(account.seat_id) if account.seat_id is not None else None
        if seat is not None and (observed.client_ref is None or observed.client_ref == seat.client.ref):
            return seat
        key = observed.found.account_key
        return self.by_name.get(key) if key else None

    def cancelled_seat(self, observed: Observed) -> Seat | None:
        """The cancelled seat of this kind the account names as its own, if any: it outlived it."""
        if observed.account.seat_id is None or observed.account.seat_id in self.by_id:
            return None
        seat = db.session.get(Seat, observed.account.seat_id)
        if seat is None or seat.product.kind.value != self.kind:
            return None
        if observed.client_ref is not None and observed.client_ref != seat.client.ref:
            return None
        return seat


@dataclass(frozen=True)
class Owner:
    client: Client | None
    person: str | None  # lower-cased e-mail / UPN
    end_user: EndUser | None
    # Why no client could be told (then only dismiss and remove are possible).
    unmapped_reason: str | None = None


def owner_of(observed: Observed, cancelled: Seat | None) -> Owner:
    """Whose the account is, as far as the platform's naming and Seatmeter's records tell."""
    person = observed.person
    client: Client | None = None
    if cancelled is not None:
        client = cancelled.client
        person = person or cancelled.platform_user
    elif observed.client_ref is not None:
        client = db.session.scalars(select(Client).where(Client.ref == observed.client_ref)).first()
        if client is None:
            return Owner(
                None,
                person,
                None,
                f"Its name points at a client “{observed.client_ref}” ({observed.named_by}), "
                "which Seatmeter does not know.",
            )
    end_user = _person_in(client, person) if client is not None and person else None
    if client is not None and end_user is None and person is None:
        end_user = _by_platform_name(observed, client)
    if client is None:
        end_user = _unique(_end_users_with_email(person)) if person else _by_platform_name(observed, None)
        client = end_user.client if end_user is not None else _client_of_domain(person)
    if end_user is not None:
        person = end_user.email.lower()
    if client is None:
        who = f"“{person or observed.account.name}”"
        return Owner(
            None,
            person,
            None,
            f"Nothing in the account says which client it belongs to (no client OU, SIP domain or tag), "
            f"and no single client has an end user signing in as {who}.",
        )
    return Owner(client, person, end_user)


def _person_in(client: Client, email: str) -> EndUser | None:
    return db.session.scalars(
        select(EndUser).where(EndUser.client_id == client.id, func.lower(EndUser.email) == email.lower())
    ).first()


def _end_users_with_email(email: str) -> list[EndUser]:
    return list(
        db.session.scalars(select(EndUser).where(func.lower(EndUser.email) == email.lower()).limit(2))
    )


def _by_platform_name(observed: Observed, client: Client | None) -> EndUser | None:
    """A WorkSpace names only the sign-in name; a SIP account only the extension."""
    query = select(EndUser).options(selectinload(EndUser.client))
    if client is not None:
        query = query.where(EndUser.client_id == client.id)
    found = observed.found
    if found.extension is not None:
        if client is None:
            return None  # extension numbers repeat from client to client
        return db.session.scalars(query.where(EndUser.extension == found.extension)).first()
    name = found.sign_in_name
    naming = naming_of(observed.platform, observed.kind) if name else None
    if not name or naming is None:
        return None
    # The sign-in name is made from the e-mail's local part: narrow by it, then ask the adapter.
    candidates = [
        user
        for user in db.session.scalars(query.where(func.lower(EndUser.email).like(f"{name}@%")).limit(20))
        if naming.account_name(user.email) == name
    ]
    return _unique(candidates)


def _unique(end_users: list[EndUser]) -> EndUser | None:
    return end_users[0] if len(end_users) == 1 else None


def _client_of_domain(email: str | None) -> Client | None:
    """The one client whose end users have e-mail addresses at this domain."""
    if not email or "@" not in email:
        return None
    domain = email.rsplit("@", 1)[1].lower()
    client_ids = list(
        db.session.scalars(
            select(EndUser.client_id).where(func.lower(EndUser.email).like(f"%@{domain}")).distinct().limit(2)
        )
    )
    return db.session.get(Client, client_ids[0]) if len(client_ids) == 1 else None
