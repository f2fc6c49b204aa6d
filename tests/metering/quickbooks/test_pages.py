"""The console's QuickBooks page: connecting through Intuit's sign-in (the stand-in's), settings, the list."""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest
from sqlalchemy import select, text

from metering import ConnectionState, QuickBooksConnection, sync_quickbooks_now
from portal.accounts.models import Role
from portal.db import db
from tests.conftest import csrf_token_from
from tests.metering.quickbooks.conftest import consent


@pytest.fixture
def admin(make_user, login):
    user = make_user(Role.RESELLER_ADMIN, email="ada@northwind-it.example")
    login(user)
    return user


@pytest.fixture
def staff(make_user, login):
    user = make_user(Role.RESELLER_STAFF, email="sam@northwind-it.example")
    login(user)
    return user


def test_without_settings_the_page_says_what_is_missing(app, client, admin):
    page = client.get("/reseller/quickbooks/")

    assert page.status_code == 200
    body = page.get_data(as_text=True)
    assert "QUICKBOOKS_CLIENT_ID" in body and "QUICKBOOKS_CLIENT_SECRET" in body
    assert "Connect to QuickBooks" not in body
    # Pressing the button anyway (an old page) is a plain message, never a 500.
    answer = client.post("/reseller/quickbooks/connect", follow_redirects=True)
    assert answer.status_code == 200
    assert "not configured" in answer.get_data(as_text=True)


def test_connect_through_intuits_sign_in(qbo_app, client, admin, quickbooks):
    assert "Connect to QuickBooks" in client.get("/reseller/quickbooks/").get_data(as_text=True)

    start = client.post("/reseller/quickbooks/connect")
    assert start.status_code == 302
    authorize = start.headers["Location"]
    assert authorize.startswith(f"{quickbooks.base_url}/connect/oauth2?")
    answer = consent(quickbooks, authorize)
    assert answer["realmId"] == quickbooks.realm

    back = client.get("/reseller/quickbooks/callback", query_string=answer)
    assert back.status_code == 302
    page = client.get(urlsplit(back.headers["Location"]).path).get_data(as_text=True)
    assert "QuickBooks is connected" in page
    assert 'id="connection-state">connected' in page
    assert "Services" in page  # the company's income accounts, read from QuickBooks, to pick from

    connection = db.session.scalars(select(QuickBooksConnection)).one()
    assert connection.realm_id == quickbooks.realm and connection.state is ConnectionState.CONNECTED
    stored = db.session.execute(
        text("select access_token_sealed, refresh_token_sealed from quickbooks_connections")
    )
    access, refresh = stored.one()
    assert quickbooks.calls()["token:authorization_code"] == 1
    assert access.startswith("gAAAA") and refresh.startswith("gAAAA")  # Fernet, never the token itself

    choice = {"account": "1", "first_period": "2026-10"}
    saved = client.post("/reseller/quickbooks/settings", data=choice, follow_redirects=True)
    assert saved.status_code == 200
    assert "Products post to “Services”" in saved.get_data(as_text=True)


def test_a_callback_with_another_state_is_refused(qbo_app, client, admin, quickbooks):
    client.post("/reseller/quickbooks/connect")

    answer = client.get(
        "/reseller/quickbooks/callback", query_string={"code": "AB123", "state": "forged", "realmId": "123"}
    )

    assert answer.status_code == 400
    assert "did not start" in answer.get_data(as_text=True)
    assert db.session.scalars(select(QuickBooksConnection)).first() is None


def test_a_cancelled_sign_in_is_said_plainly(qbo_app, client, admin, quickbooks):
    start = client.post("/reseller/quickbooks/connect")
    state = dict(p.split("=", 1) for p in urlsplit(start.headers["Location"]).query.split("&"))["state"]

    answer = client.get(
        "/reseller/quickbooks/callback",
        query_string={"error": "access_denied", "state": state},
        follow_redirects=True,
    )

    assert answer.status_code == 200
    assert "cancelled or refused" in answer.get_data(as_text=True)


def test_conflicts_and_failures_are_shown_with_their_reason(connected, books, quickbooks, client, admin):
    sync_quickbooks_now()
    invoice = books.invoices["bright"]
    qbo_id = next(i["Id"] for i in quickbooks.objects("Invoice") if i["DocNumber"] == invoice.number)
    quickbooks.edit("Invoice", qbo_id, {"DueDate": "2027-01-31"})
    sync_quickbooks_now()

    page = client.get("/reseller/quickbooks/").get_data(as_text=True)

    assert f"Invoice {invoice.number}" in page
    row = page[page.index(f'id="record-invoice-{invoice.id}"') :]
    row = row[: row.index("</li>")]
    assert "conflict" in row and "changed in QuickBooks" in row
    assert "1 conflict" in page


def test_a_refused_renewal_shows_connect_again(connected, books, quickbooks, client, admin):
    quickbooks.expire_tokens()
    quickbooks.revoke_refresh_tokens()
    sync_quickbooks_now()

    page = client.get("/reseller/quickbooks/").get_data(as_text=True)

    assert "connect again" in page.lower()
    assert 'id="connection-problem"' in page


def test_sync_again_is_for_the_admin_only(connected, books, client, staff):
    page = client.get("/reseller/quickbooks/")
    assert page.status_code == 200
    assert "Sync again" not in page.get_data(as_text=True)

    assert client.post("/reseller/quickbooks/sync").status_code == 403


def test_sync_again_queues_a_run(connected, books, client, admin):
    answer = client.post("/reseller/quickbooks/sync", follow_redirects=True)

    assert answer.status_code == 200
    assert "The sync runs in the background" in answer.get_data(as_text=True)


def test_sync_again_needs_the_csrf_token(connected, books, client, admin):
    client.application.config["WTF_CSRF_ENABLED"] = True
    try:
        assert client.post("/reseller/quickbooks/sync").status_code == 400
        token = csrf_token_from(client.get("/reseller/quickbooks/").get_data(as_text=True))
        assert client.post("/reseller/quickbooks/sync", data={"csrf_token": token}).status_code == 302
    finally:
        client.application.config["WTF_CSRF_ENABLED"] = False
