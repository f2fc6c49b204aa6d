"""A reseller with three clients billed for October 2026, and a ConnectWise PSA stand-in that has
their companies, agreements and catalog items. ``psa`` maps them and plays months."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest
from sqlalchemy import select

from metering.psa.mapping import link_client, link_product
from metering.psa.models import PsaSync
from metering.psa.tasks import sync_month
from portal.accounts.models import Client
from portal.catalog.services import get_product
from portal.db import db
from tests.metering.months import TESTS, Month, event
from tests.standins.connectwise import ConnectWiseServer

# Who holds what in October: (client, user, product).
OCTOBER_HOLDERS = [
    ("acme", "alice", "desktop"),
    ("acme", "bob", "desktop"),
    ("acme", "carol", "exchange"),
    ("bright", "dana", "desktop"),
    ("bright", "erin", "exchange"),
    ("bright", "fay", "exchange"),
    ("bright", "gus", "exchange"),
    ("cedar", "hal", "desktop"),
    ("cedar", "ian", "desktop"),
    ("cedar", "jo", "desktop"),
    ("cedar", "kim", "desktop"),
]
CATALOG = {"desktop": "DESKTOP", "exchange": "MAILBOX"}


@dataclass
class PsaWorld:
    month: Month
    server: ConnectWiseServer
    clients: dict[str, Client]
    agreements: dict[str, int]
    items: dict[str, int] = field(default_factory=dict)

    def play_october(self) -> None:
        self.month.events(
            *(
                event(
                    f"{ref}-{user}-{product}",
                    ref,
                    f"{user}@{ref}.example",
                    product,
                    "start",
                    "2026-10-02T09:00:00Z",
                )
                for ref, user, product in OCTOBER_HOLDERS
            )
        )
        self.month.close("2026-10")
        self.month.finalize("2026-10")

    def sync(self, period: str) -> list[dict[str, Any]]:
        """Run the sync task (eagerly, retries included) for every client's month."""
        return [sync_month.apply(args=[client.id, period]).get() for client in self.clients.values()]

    def quantities(self) -> dict[tuple[int, str], int]:
        """(agreement, catalog item identifier) -> quantity, for every addition in the stand-in."""
        found: dict[tuple[int, str], int] = {}
        for addition in self.server.additions():
            key = (addition["agreementId"], addition["product"]["identifier"])
            assert key not in found, f"two additions of {key}"
            found[key] = int(addition["quantity"])
        return found

    def records_rows(self, period: str) -> list[PsaSync]:
        db.session.expire_all()
        return list(db.session.scalars(select(PsaSync).where(PsaSync.period == period)))

    def records(self, period: str) -> dict[tuple[str, str], tuple[str, int, str | None]]:
        db.session.expire_all()
        rows = db.session.scalars(select(PsaSync).where(PsaSync.period == period))
        return {
            (row.client.ref, row.product.code): (row.state.value, row.quantity, row.reason) for row in rows
        }


@pytest.fixture
def psa(app, month, make_client, travel, connectwise) -> PsaWorld:
    app.config.update(connectwise.settings(), CONNECTWISE_PAGE_SIZE=2)
    clients = {ref: make_client(ref, f"{ref.title()} Ltd") for ref in ("acme", "bright", "cedar")}
    companies = connectwise.seed(
        companies=[{"identifier": ref.title(), "name": f"{ref.title()} Ltd"} for ref in clients]
    )
    agreements = connectwise.seed(
        agreements=[
            {"company_id": company_id, "name": "Hosted licences"} for company_id in companies["companies"]
        ]
    )
    items = connectwise.seed(
        catalog=[
            {"identifier": "DESKTOP", "description": "Hosted desktop", "price": 45},
            {"identifier": "MAILBOX", "description": "Hosted Exchange mailbox", "price": 8},
        ]
    )
    world = PsaWorld(
        month=month,
        server=connectwise,
        clients=clients,
        agreements=dict(zip(clients, agreements["agreements"], strict=True)),
        items=dict(zip(CATALOG, items["catalog"], strict=True)),
    )
    travel("2026-11-02T12:00:00Z")
    return world


def map_all(world: PsaWorld, skip: tuple[str, ...] = ()) -> None:
    for ref, client in world.clients.items():
        if ref not in skip:
            link_client(TESTS, client, 0, client.name, world.agreements[ref], "Hosted licences")
    for code, item_id in world.items.items():
        link_product(TESTS, get_product(code), item_id, CATALOG[code])
    db.session.commit()


def acme_desktop_edited_in_the_psa(world: PsaWorld, quantity: int = 5) -> None:
    """October mapped, billed and sent to the PSA; then a dispatcher sets Acme's desktop addition by hand."""
    map_all(world)
    world.play_october()
    world.sync("2026-10")
    acme_desktop = next(
        a["id"]
        for a in world.server.additions()
        if a["agreementId"] == world.agreements["acme"] and a["product"]["identifier"] == "DESKTOP"
    )
    world.server.edit_addition(acme_desktop, quantity)
