"""People and tokens in a real browser, on a 390 px wide screen: a client administrator invites a
user and removes them with the keyboard alone (through the confirmation page, no JavaScript needed),
creates an API token whose secret shows once; a reseller administrator's team page fits the phone too.
"""

from __future__ import annotations

import pytest
from sqlalchemy import create_engine, text

from portal import create_app
from portal.accounts.models import Role
from portal.accounts.services import create_user_with_password
from portal.audit.services import Actor
from portal.db import db
from tests.browser.conftest import PHONE, Portal, log_in, wider_than_a_phone
from tests.conftest import TEST_PASSWORD

pytestmark = pytest.mark.slow

RESELLER_ADMIN = "ada@northwind-it.example"


def _add_reseller_admin(portal: Portal, tmp_path) -> None:
    app = create_app(
        {
            "DATABASE_URL": portal.database_url,
            "SECRET_KEY": "browser-test-setup-" + "x" * 32,
            "CELERY_BROKER_URL": "memory://",
            "INSTANCE_PATH": str(tmp_path / "setup"),
        }
    )
    with app.app_context():
        create_user_with_password(
            Actor.system("browser test"), RESELLER_ADMIN, "Ada", Role.RESELLER_ADMIN, None, TEST_PASSWORD
        )
        db.session.commit()
    app.extensions["seatmeter.db"].engine.dispose()


def _tab_to(page, name: str, limit: int = 80) -> None:
    """Press Tab until the focused element's accessible text is ``name`` (keyboard only)."""
    for _ in range(limit):
        page.keyboard.press("Tab")
        focused = "(document.activeElement.textContent || '').replace(/\\s+/g, ' ').trim()"
        if page.evaluate(focused) == name:
            return
    raise AssertionError(f"Tab never reached “{name}”")


def invite_user(page, base_url: str, name: str, email: str) -> None:
    """As a client administrator, invite a portal user; every field is found by its label."""
    from playwright.sync_api import expect

    page.goto(f"{base_url}/client/users")
    page.get_by_label("Name", exact=True).fill(name)
    page.get_by_label("E-mail", exact=True).fill(email)
    page.get_by_label("Role", exact=True).select_option("client_user")
    page.get_by_role("button", name="Send invitation").click()
    expect(page.get_by_text(f"Invitation sent to {email}.")).to_be_visible()
    row = page.locator("tr", has_text=email)
    expect(row.get_by_label(f"Role of {name}")).to_have_value("client_user")


def remove_user_by_keyboard(page, name: str, email: str) -> None:
    """On the users page, remove a user with the keyboard alone: Tab to the link, Enter, read the
    question, Tab to the button, Enter."""
    from playwright.sync_api import expect

    _tab_to(page, f"Remove {name}…")
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", name=f"Remove {name} ({email})?")).to_be_visible()
    _tab_to(page, f"Remove {name}")
    expect(page.get_by_role("button", name=f"Remove {name}")).to_be_focused()
    page.keyboard.press("Enter")
    expect(page.get_by_text(f"{name} was removed.")).to_be_visible()
    expect(page.locator("tr", has_text=email)).to_have_count(0)


def test_people_and_tokens_on_a_phone_by_keyboard(portal: Portal, browser_page, tmp_path):
    from playwright.sync_api import expect

    page = browser_page
    page.set_viewport_size(PHONE)
    log_in(page, portal.url, portal.admin_email, portal.admin_password)
    expect(page.get_by_role("heading", name="Acme Law LLP")).to_be_visible()

    invite_user(page, portal.url, "Pat Doe", "pat@acme.example")
    remove_user_by_keyboard(page, "Pat Doe", "pat@acme.example")

    # A token: its secret on the page after the redirect, once.
    page.goto(f"{portal.url}/client/tokens")
    page.get_by_label("Name", exact=True).fill("PSA sync")
    page.get_by_role("button", name="Create token").click()
    secret = page.get_by_label("Token (client admin, all of Acme Law LLP)")
    expect(secret).to_be_visible()
    value = secret.input_value()
    assert value.startswith("smt_")
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    page.reload()
    expect(page.get_by_role("heading", name="This token was already shown")).to_be_visible()
    assert value not in page.content()
    page.goto(f"{portal.url}/client/tokens")
    assert value not in page.content()
    with create_engine(portal.database_url).connect() as connection:
        token_id = connection.execute(text("SELECT id FROM api_tokens WHERE name = 'PSA sync'")).scalar_one()

    assert (
        wider_than_a_phone(
            page, portal.url, ["/client/users", "/client/tokens", f"/client/tokens/{token_id}/revoke"]
        )
        == []
    )

    # The reseller's team page and token page on the same phone.
    _add_reseller_admin(portal, tmp_path)
    page.context.clear_cookies()
    log_in(page, portal.url, RESELLER_ADMIN, TEST_PASSWORD)
    page.goto(f"{portal.url}/reseller/team")
    page.get_by_label("Name", exact=True).fill("Sue Clerk")
    page.get_by_label("E-mail", exact=True).fill("sue@northwind-it.example")
    page.get_by_role("button", name="Send invitation").click()
    expect(page.get_by_text("Invitation sent to sue@northwind-it.example.")).to_be_visible()
    assert wider_than_a_phone(page, portal.url, ["/reseller/team", "/reseller/tokens"]) == []
