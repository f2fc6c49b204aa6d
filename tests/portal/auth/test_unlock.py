"""A locked address is told how to unlock it, and its owner can, by an e-mailed link (finding 6)."""

from __future__ import annotations

import re

from sqlalchemy import func, select

from portal.accounts.models import FailedLogin, OneTimeToken, Role, TokenPurpose
from portal.accounts.services import is_locked
from portal.audit.models import AuditEvent
from portal.db import db
from tests.conftest import TEST_PASSWORD


def _lock(client, email: str) -> None:
    for _ in range(5):
        client.post("/login", data={"email": email, "password": "guess guess guess"})


def _unlock_link(client, email: str, caplog) -> str:
    caplog.clear()
    with caplog.at_level("INFO", logger="seatmeter.mail"):
        answer = client.post("/login/unlock", data={"email": email})
    assert answer.status_code == 302
    found = re.search(r"(/login/unlock/\S+)", caplog.text)
    assert found is not None, "no link was e-mailed"
    return found.group(1)


def test_the_lock_page_says_how_to_unlock_by_email(client, make_user):
    user = make_user(Role.RESELLER_ADMIN)
    _lock(client, user.email)

    locked = client.post("/login", data={"email": user.email, "password": TEST_PASSWORD})

    page = locked.get_data(as_text=True)
    assert locked.status_code == 429
    assert "unlock it now with a link we e-mail to the address" in page
    assert "/login/unlock?email=" in page
    assert "have us e-mail\n    you an unlock link" in page
    assert client.get("/login/unlock?email=" + user.email).status_code == 200


def test_an_emailed_link_unlocks_the_address(client, make_user, caplog):
    user = make_user(Role.RESELLER_ADMIN)
    _lock(client, user.email)
    link = _unlock_link(client, user.email, caplog)

    # Opening the link (a mail scanner does) changes nothing; the button does.
    shown = client.get(link)
    assert shown.status_code == 200
    assert user.email in shown.get_data(as_text=True)
    assert is_locked(user.email)

    unlocked = client.post(link)

    assert unlocked.status_code == 302
    assert not is_locked(user.email)
    assert db.session.scalar(select(func.count()).select_from(FailedLogin)) == 0
    assert client.post("/login", data={"email": user.email, "password": TEST_PASSWORD}).status_code == 302
    actions = set(db.session.scalars(select(AuditEvent.action)))
    assert {"user.locked_out", "user.unlock_requested", "user.unlocked"} <= actions
    # A link works once.
    client.post("/logout")
    assert client.post(link).status_code == 404


def test_no_link_for_an_address_that_is_not_locked_or_has_no_account(client, make_user, caplog):
    user = make_user(Role.RESELLER_ADMIN)
    _lock(client, "nobody@example.com")
    with caplog.at_level("INFO", logger="seatmeter.mail"):
        for email in (user.email, "nobody@example.com"):
            answer = client.post("/login/unlock", data={"email": email})
            assert answer.status_code == 302
    assert "/login/unlock/" not in caplog.text
    assert db.session.scalar(select(func.count()).select_from(OneTimeToken)) == 0
    assert is_locked("nobody@example.com")


def test_a_newer_unlock_link_voids_the_older_one(client, make_user, caplog):
    user = make_user(Role.RESELLER_ADMIN)
    _lock(client, user.email)
    older = _unlock_link(client, user.email, caplog)
    newer = _unlock_link(client, user.email, caplog)

    assert client.post(older).status_code == 404
    assert client.post(newer).status_code == 302
    valid = db.session.scalar(
        select(func.count()).select_from(OneTimeToken).where(OneTimeToken.purpose == TokenPurpose.UNLOCK)
    )
    assert valid == 2
