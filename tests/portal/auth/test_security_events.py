"""Security events in the audit log, with the source address and User-Agent (finding 11).

Login success and failure, the lockout, logout, and a password reset asked for and done. Never a
password or a token.
"""

from __future__ import annotations

import json
import re

from sqlalchemy import select

from portal.accounts.models import Role
from portal.audit.models import AuditEvent
from portal.db import db
from tests.conftest import TEST_PASSWORD

ADDRESS = "203.0.113.50"
BROWSER = "Mozilla/5.0 (X11; Linux x86_64) SeatmeterTest/1.0"
WRONG = "guess guess guess"
NEW_PASSWORD = "a brand new passphrase"


def _events(action: str) -> list[AuditEvent]:
    db.session.expire_all()
    return list(db.session.scalars(select(AuditEvent).where(AuditEvent.action == action)))


def _from_the_browser(event: AuditEvent) -> bool:
    return event.source_address == ADDRESS and event.user_agent == BROWSER


def test_sign_in_events_are_recorded_with_where_they_came_from(app, make_client, make_user, caplog):
    user = make_user(Role.CLIENT_ADMIN, make_client("acme"))
    browser = app.test_client()
    browser.environ_base.update(REMOTE_ADDR=ADDRESS, HTTP_USER_AGENT=BROWSER)

    browser.post("/login", data={"email": user.email, "password": WRONG})
    browser.post("/login", data={"email": "nobody@example.com", "password": WRONG})
    assert browser.post("/login", data={"email": user.email, "password": TEST_PASSWORD}).status_code == 302
    browser.post("/logout")
    for _ in range(5):
        browser.post("/login", data={"email": user.email, "password": WRONG})
    with caplog.at_level("INFO", logger="seatmeter.mail"):
        browser.post("/password/forgot", data={"email": user.email})
    link = re.search(r"(/password/reset/\S+)", caplog.text).group(1)
    browser.post(link, data={"password": NEW_PASSWORD, "confirm": NEW_PASSWORD})

    failed = _events("user.login_failed")
    assert [(event.object_id, event.details["email"]) for event in failed] == [
        (str(user.id), user.email),
        (None, "nobody@example.com"),
        *[(str(user.id), user.email)] * 5,
    ]
    locked = _events("user.locked_out")
    assert len(locked) == 1 and locked[0].object_id == str(user.id)
    logged_in, logged_out = _events("user.logged_in"), _events("user.logged_out")
    # The password login, then the reset, which logs the user in too (and is recorded as such).
    assert [event.object_id for event in logged_in] == [str(user.id)] * 2
    assert [event.object_id for event in logged_out] == [str(user.id)]
    asked, reset = _events("user.password_reset_requested"), _events("user.password_reset")
    assert len(asked) == 1 and len(reset) == 1
    for event in [*failed, *locked, *logged_in, *logged_out, *asked, *reset]:
        assert _from_the_browser(event), (event.action, event.source_address, event.user_agent)

    # Never a password or a token, in any column of any event.
    token = link.rsplit("/", 1)[1]
    everything = json.dumps(
        [
            [event.actor, event.action, event.object_id, event.details, event.user_agent]
            for event in db.session.scalars(select(AuditEvent))
        ]
    )
    for secret in (TEST_PASSWORD, WRONG, NEW_PASSWORD, token):
        assert secret not in everything


def test_work_outside_a_request_has_no_source(app, make_user):
    user = make_user(Role.RESELLER_ADMIN)

    created = db.session.scalars(select(AuditEvent).where(AuditEvent.object_id == str(user.id))).one()

    assert (created.source_address, created.user_agent) == (None, None)


def test_sign_ins_stay_off_the_client_dashboard(client, make_client, make_user, login):
    login(make_user(Role.CLIENT_ADMIN, make_client("acme")))

    page = client.get("/client/").get_data(as_text=True)

    assert "user.logged_in" not in page


def test_the_audit_log_page_shows_where_an_event_came_from(app, client, make_user, login):
    admin = make_user(Role.RESELLER_ADMIN)
    client.environ_base.update(REMOTE_ADDR=ADDRESS, HTTP_USER_AGENT=BROWSER)
    login(admin)

    page = client.get("/reseller/audit/?action=user.logged_in").get_data(as_text=True)

    assert ADDRESS in page and BROWSER in page
