"""A client administrator in a real browser reads a phone seat's SIP sign-in, shows its password once
and sets a new one: the real Kamailio registrar then refuses the old password and lets the new one in.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Iterator
from pathlib import Path

import pytest

from portal import create_app
from portal.accounts.models import Client
from portal.audit.services import Actor
from portal.catalog.services import get_product
from portal.db import db
from provisioning import place_order
from sandbox import sip_client
from tests.browser.conftest import (
    Portal,
    _portal_environment,
    _set_up_database,
    log_in,
    running_portal,
    wider_than_a_phone,
)
from tests.conftest import TEST_PASSWORD, ScratchDatabases
from tests.standins.aws import MotoServer, make_workspaces_directory
from tests.standins.kamailio import Kamailio
from tests.standins.ports import LOOPBACK, free_port

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def phone_portal(
    chromium: Path,
    scratch_databases: ScratchDatabases,
    moto_server: MotoServer,
    kamailio: Kamailio,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[Portal, dict[str, str]]]:
    """The browser tests' portal with phone seats on the session's Kamailio registrar."""
    work = tmp_path_factory.mktemp("phone-portal")
    queue = f"browser-phone-{secrets.token_hex(4)}"
    broker = f"sqla+sqlite:///{work / 'broker.sqlite'}"
    database_url = scratch_databases.create_migrated("browser_phone")
    port = free_port()
    env = _portal_environment(
        database_url,
        broker,
        queue,
        moto_server,
        make_workspaces_directory(moto_server.endpoint_url),
        work,
        port,
    )
    env.update(
        PROVISIONING_ADAPTERS="desktop=workspaces,mailbox=none,voip=kamailio",
        KAMAILIO_DB_URL=kamailio.db_url,
        SIP_DOMAIN=kamailio.domain,
        SIP_SERVER=f"{kamailio.host}:{kamailio.port}",
    )
    _set_up_database(env, work)
    with running_portal(env, work, queue):
        portal = Portal(
            url=f"http://{LOOPBACK}:{port}",
            admin_email="grace@acme.example",
            admin_password=TEST_PASSWORD,
            database_url=database_url,
            log_dir=work,
        )
        yield portal, env


def _order_a_phone(env: dict[str, str], work: Path) -> int:
    """A phone seat for Acme, ordered as the API or the order page would; the workers make it."""
    app = create_app(
        {
            "DATABASE_URL": env["DATABASE_URL"],
            "SECRET_KEY": env["SECRET_KEY"],
            "CELERY_BROKER_URL": env["CELERY_BROKER_URL"],
            "PROVISIONING_QUEUE": env["PROVISIONING_QUEUE"],
            "INSTANCE_PATH": str(work / "order-instance"),
        }
    )
    with app.app_context():
        acme = db.session.query(Client).filter_by(ref="acme").one()
        seat = place_order(Actor.system("browser test"), acme, get_product("voip"), 1).seats[0]
        db.session.commit()
        seat_id = seat.id
    app.extensions["seatmeter.db"].engine.dispose()
    return seat_id


def _show_password_once(page: object) -> str:
    page.get_by_role("button", name="Show the password once").click()  # type: ignore[attr-defined]
    password: str = page.locator("#sip-password").inner_text()  # type: ignore[attr-defined]
    page.get_by_role("link", name="Back to the seat").click()  # type: ignore[attr-defined]
    return password


def _wait_for_button(page: object, name: str, logs: str, tries: int = 60) -> None:
    for _ in range(tries):
        if page.get_by_role("button", name=name).count():  # type: ignore[attr-defined]
            return
        page.wait_for_timeout(500)  # type: ignore[attr-defined]
        page.reload()  # type: ignore[attr-defined]
    raise AssertionError(f"no {name!r} button after {tries / 2:.0f}s\n{logs}")


def reset_phone_password(page, portal: Portal, seat_id: int, kamailio: Kamailio) -> None:
    """As the client administrator (logged in): read the phone seat's SIP sign-in, show its password
    once, reset it, and show the new one; the registrar then refuses the old password and takes the
    new one. The page answers "are you sure?" dialogs itself."""
    from playwright.sync_api import expect

    page.on("dialog", lambda dialog: dialog.accept())
    page.goto(f"{portal.url}/client/seats/{seat_id}")
    _wait_for_button(page, "Show the password once", portal.logs())

    account = page.locator("#sip-account").inner_text()
    domain = page.locator("#sip-domain").inner_text()
    assert account == str(1000 + seat_id) and domain == f"acme.{kamailio.domain}"
    expect(page.locator("#sip-server")).to_have_text(f"{kamailio.host}:{kamailio.port}")
    old = _show_password_once(page)
    assert sip_client.register(kamailio.host, kamailio.port, account, domain, old) == 200

    page.get_by_role("button", name="Reset the phone password").click()
    expect(page.locator("body")).to_contain_text(re.compile("gets a new phone password"))
    _wait_for_button(page, "Show the password once", portal.logs())
    new = _show_password_once(page)

    assert new != old
    assert sip_client.register(kamailio.host, kamailio.port, account, domain, old) == 401
    assert sip_client.register(kamailio.host, kamailio.port, account, domain, new) == 200


def test_client_admin_resets_a_phone_password_and_only_the_new_one_registers(
    phone_portal, browser_page, kamailio, tmp_path
):
    portal, env = phone_portal
    page = browser_page
    seat_id = _order_a_phone(env, tmp_path)
    log_in(page, portal.url, portal.admin_email, portal.admin_password)
    reset_phone_password(page, portal, seat_id, kamailio)
    assert wider_than_a_phone(page, portal.url, [f"/client/seats/{seat_id}"]) == []
