"""Two-step login: an authenticator app's code after the password, recovery codes, and the roles
that must use it. Codes come from pyotp, as an authenticator app computes them."""

from __future__ import annotations

import re
import time

import pyotp
import pytest
from sqlalchemy import select

from portal.accounts.models import Role, TwoFactor
from portal.audit.models import AuditEvent
from portal.db import db
from tests.conftest import TEST_PASSWORD

RESELLER_ROLES = frozenset({"reseller_admin", "reseller_staff"})


@pytest.fixture
def required(app):
    app.config["TWO_FACTOR_REQUIRED_ROLES"] = RESELLER_ROLES


def _password(client, user, password: str = TEST_PASSWORD):
    return client.post("/login", data={"email": user.email, "password": password})


def _set_up(client) -> tuple[str, list[str]]:
    """What a user does on the set-up page: start, scan (read the key), type the app's code."""
    assert client.post("/account/two-step/start").status_code == 302
    page = client.get("/account/two-step").get_data(as_text=True)
    shown = re.search(r'<code class="secret">([A-Z2-7]+)</code>', page)
    assert shown is not None, "the key is shown for typing"
    secret = shown.group(1)
    assert "<svg" in page  # the QR code
    done = client.post("/account/two-step/confirm", data={"code": pyotp.TOTP(secret).now()})
    assert done.status_code == 200
    codes = re.findall(r"<li><code>([0-9a-f]{6}-[0-9a-f]{6})</code></li>", done.get_data(as_text=True))
    return secret, codes


def _enabled_user(client, make_user, role=Role.CLIENT_ADMIN, client_row=None):
    user = make_user(role, client_row)
    _password(client, user)
    secret, codes = _set_up(client)
    client.post("/logout")
    return user, secret, codes


def _events(action: str) -> list[AuditEvent]:
    return list(db.session.scalars(select(AuditEvent).where(AuditEvent.action == action)))


def _code_for_a_new_step(secret: str) -> str:
    """The app's code in the next 30 s window (a code used once is refused within its window)."""
    return pyotp.TOTP(secret).at(time.time() + 30)


def test_a_reseller_user_is_sent_to_set_it_up_and_can_open_nothing_else_until_then(
    client, make_user, required
):
    admin = make_user(Role.RESELLER_ADMIN)
    assert _password(client, admin).status_code == 302

    blocked = client.get("/reseller/clients")
    assert blocked.status_code == 302 and blocked.headers["Location"].endswith("/account/two-step")
    assert "needs two-step login" in client.get("/account/two-step").get_data(as_text=True)

    _secret, codes = _set_up(client)

    assert len(codes) == 10 and len(set(codes)) == 10
    assert client.get("/reseller/clients").status_code == 200
    assert len(_events("user.two_factor_enabled")) == 1


def test_with_it_on_the_password_alone_does_not_log_in(client, make_user, make_client):
    user, secret, _codes = _enabled_user(client, make_user, client_row=make_client())
    logged_in_before = len(_events("user.logged_in"))

    answer = _password(client, user)
    assert answer.headers["Location"].endswith("/login/code")
    assert client.get("/client/").status_code == 302  # not in yet
    assert len(_events("user.logged_in")) == logged_in_before

    wrong = client.post("/login/code", data={"code": "000000"})
    assert wrong.status_code == 422 and "That code is not right" in wrong.get_data(as_text=True)

    right = client.post("/login/code", data={"code": _code_for_a_new_step(secret)})
    assert right.status_code == 302
    assert client.get("/client/").status_code == 200
    assert len(_events("user.logged_in")) == logged_in_before + 1
    assert len(_events("user.two_factor_failed")) == 1


def test_a_code_is_accepted_once(client, make_user, make_client):
    user, secret, _codes = _enabled_user(client, make_user, client_row=make_client())
    code = _code_for_a_new_step(secret)
    _password(client, user)
    assert client.post("/login/code", data={"code": code}).status_code == 302
    client.post("/logout")

    _password(client, user)
    replayed = client.post("/login/code", data={"code": code})
    assert replayed.status_code == 422


def test_a_recovery_code_logs_in_once(client, make_user, make_client):
    user, _secret, codes = _enabled_user(client, make_user, client_row=make_client())

    _password(client, user)
    assert client.post("/login/code", data={"code": codes[3].upper()}).status_code == 302
    assert _events("user.recovery_code_used")[0].details == {"codes_left": 9}
    client.post("/logout")

    _password(client, user)
    assert client.post("/login/code", data={"code": codes[3]}).status_code == 422


def test_a_password_reset_does_not_get_around_the_second_factor(client, make_user, make_client, caplog):
    user, secret, _codes = _enabled_user(client, make_user, client_row=make_client())
    caplog.clear()
    with caplog.at_level("INFO", logger="seatmeter.mail"):
        client.post("/password/forgot", data={"email": user.email})
    link = re.search(r"(/password/reset/\S+)", caplog.text).group(1)

    done = client.post(link, data={"password": "a brand new passphrase", "confirm": "a brand new passphrase"})

    assert done.headers["Location"].endswith("/login/code")
    assert client.get("/client/").status_code == 302
    assert client.post("/login/code", data={"code": _code_for_a_new_step(secret)}).status_code == 302
    assert client.get("/client/").status_code == 200


def test_guessing_codes_locks_the_address_like_guessing_passwords(client, make_user, make_client):
    user, _secret, _codes = _enabled_user(client, make_user, client_row=make_client())
    _password(client, user)
    answers = [client.post("/login/code", data={"code": f"{n:06d}"}).status_code for n in range(6)]

    assert answers[:5] == [422] * 5
    assert answers[5] == 429
    # Locked: the right password is refused too, until the window passes or the unlock link is used.
    assert _password(client, user).status_code == 429


def test_the_time_for_the_code_runs_out(client, make_user, make_client, time_machine):
    user, secret, _codes = _enabled_user(client, make_user, client_row=make_client())
    time_machine.move_to(time.time(), tick=True)
    _password(client, user)
    time_machine.shift(301)

    late = client.post("/login/code", data={"code": pyotp.TOTP(secret).now()})

    assert late.headers["Location"].endswith("/login")


def test_a_client_user_may_turn_it_off_with_the_password_a_required_role_may_not(
    client, make_user, make_client, required
):
    user, secret, _codes = _enabled_user(client, make_user, client_row=make_client())
    _password(client, user)
    client.post("/login/code", data={"code": _code_for_a_new_step(secret)})

    refused = client.post(
        "/account/two-step/off", data={"password": "not my password"}, follow_redirects=True
    )
    assert "That is not your password" in refused.get_data(as_text=True)
    client.post("/account/two-step/off", data={"password": TEST_PASSWORD})
    assert db.session.get(TwoFactor, user.id) is None
    client.post("/logout")
    assert _password(client, user).headers["Location"].endswith("/")

    admin = make_user(Role.RESELLER_ADMIN)
    client.post("/logout")
    _password(client, admin)
    _set_up(client)
    kept = client.post("/account/two-step/off", data={"password": TEST_PASSWORD}, follow_redirects=True)
    assert "cannot be turned off" in kept.get_data(as_text=True)
    assert db.session.get(TwoFactor, admin.id).enabled_at is not None


def test_the_secret_is_stored_sealed(client, make_user, make_client):
    user, secret, _codes = _enabled_user(client, make_user, client_row=make_client())
    stored = db.session.get(TwoFactor, user.id).secret_sealed
    assert secret not in stored


def test_a_wrong_set_up_code_is_a_plain_error(client, make_user, make_client):
    user = make_user(Role.CLIENT_ADMIN, make_client())
    _password(client, user)
    client.post("/account/two-step/start")
    for typed in ("123", "abcdef", "", "9" * 12):
        answer = client.post("/account/two-step/confirm", data={"code": typed})
        assert answer.status_code == 422
    assert db.session.get(TwoFactor, user.id).enabled_at is None
