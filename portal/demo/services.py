"""Demo data for trying Seatmeter out: a reseller, three clients, their people and seats.

Loading it again changes nothing: every item is looked up by its natural key first.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select

from portal.accounts.end_user_services import add_end_user
from portal.accounts.models import Client, EndUser, Role, User
from portal.accounts.services import create_client, create_user_with_password, ensure_reseller
from portal.audit.services import Actor
from portal.catalog.services import get_product, seed_catalog
from portal.db import db
from portal.orders.models import Order
from provisioning import place_order

DEMO_PASSWORD = "seatmeter-demo"
RESELLER_ADMIN_EMAIL = "admin@northwind-it.example"


@dataclass(frozen=True)
class DemoClient:
    ref: str
    name: str
    admin: tuple[str, str]
    people: tuple[tuple[str, str, str | None], ...]
    orders: tuple[tuple[str, int, int], ...]  # (product, quantity, how many assigned to people in order)


DEMO_CLIENTS = (
    DemoClient(
        "acme",
        "Acme Law LLP",
        ("Grace Hopper", "grace@acme.example"),
        (
            ("Alice Ward", "alice@acme.example", "201"),
            ("Bob Stone", "bob@acme.example", "202"),
            ("Carol Diaz", "carol@acme.example", "203"),
        ),
        (("desktop", 3, 2), ("exchange", 3, 3), ("voip", 2, 2)),
    ),
    DemoClient(
        "brightsmile",
        "Bright Smile Dental Clinic",
        ("Dana Lee", "dana@brightsmile.example"),
        (("Erin Park", "erin@brightsmile.example", "10"), ("Frank Moss", "frank@brightsmile.example", "11")),
        (("desktop-pro", 2, 2), ("exchange-plus", 2, 2)),
    ),
    DemoClient(
        "ledgerline",
        "Ledgerline Accountants",
        ("Henry Ford", "henry@ledgerline.example"),
        (("Iris Chen", "iris@ledgerline.example", None),),
        (("exchange", 1, 1),),
    ),
)


@dataclass(frozen=True)
class DemoLogin:
    role: str
    email: str
    password: str


def load_demo() -> list[DemoLogin]:
    actor = Actor.system("demo data")
    ensure_reseller("Northwind Managed IT")
    seed_catalog(actor)
    logins = [DemoLogin("reseller admin", RESELLER_ADMIN_EMAIL, DEMO_PASSWORD)]
    if _user(RESELLER_ADMIN_EMAIL) is None:
        create_user_with_password(
            actor, RESELLER_ADMIN_EMAIL, "Nora Northwind", Role.RESELLER_ADMIN, None, DEMO_PASSWORD
        )
    for spec in DEMO_CLIENTS:
        client = db.session.scalars(select(Client).where(Client.ref == spec.ref)).first()
        if client is None:
            client = create_client(actor, spec.ref, spec.name)
        admin_name, admin_email = spec.admin
        if _user(admin_email) is None:
            create_user_with_password(
                actor, admin_email, admin_name, Role.CLIENT_ADMIN, client, DEMO_PASSWORD
            )
        logins.append(DemoLogin(f"{spec.name} admin", admin_email, DEMO_PASSWORD))
        people = []
        for name, email, extension in spec.people:
            person = db.session.scalars(
                select(EndUser).where(EndUser.client_id == client.id, EndUser.email == email)
            ).first()
            people.append(person or add_end_user(actor, client, name, email, extension))
        has_orders = db.session.scalars(select(Order.id).where(Order.client_id == client.id)).first()
        if has_orders is None:
            for product_code, quantity, assigned in spec.orders:
                place_order(actor, client, get_product(product_code), quantity, people[:assigned])
    return logins


def _user(email: str) -> User | None:
    return db.session.scalars(select(User).where(User.email == email)).first()
