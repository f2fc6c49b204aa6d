"""Accounts: passwords, one-time links, API tokens, tenancy rules of roles."""

from __future__ import annotations

import hashlib
from datetime import timedelta

import pytest
from sqlalchemy import select

from portal.accounts.end_user_services import add_end_user
from portal.accounts.models import ApiToken, OneTimeToken, Role, TokenPurpose
from portal.accounts.services import (
    accept_invitation,
    authenticate,
    create_client,
    invite_user,
    load_user_for_session,
    request_password_reset,
    reset_password,
)
from portal.accounts.token_services import authenticate_api_token, create_api_token, revoke_api_token
from portal.audit.models import AuditEvent
from portal.audit.services import Actor
from portal.db import db, utcnow
from portal.errors import Conflict, InvalidInput, NotFound
from tests.conftest import TEST_PASSWORD

ACTOR = Actor.system("tests")


def test_passwords_are_stored_as_argon2id(make_user):
    user = make_user(Role.RESELLER_ADMIN)

    assert user.password_hash.startswith("$argon2id$")
    assert TEST_PASSWORD not in user.password_hash


def test_authenticate_accepts_the_right_password_only(make_user):
    user = make_user(Role.RESELLER_ADMIN, email="nora@msp.example")

    assert authenticate("NORA@msp.example ", TEST_PASSWORD) == user
    assert authenticate("nora@msp.example", "wrong password!") is None
    assert authenticate("nobody@msp.example", TEST_PASSWORD) is None


def test_disabled_user_cannot_log_in(make_user):
    user = make_user(Role.RESELLER_STAFF)
    user.active = False
    db.session.flush()

    assert authenticate(user.email, TEST_PASSWORD) is None


def test_duplicate_client_ref_is_a_conflict(make_client):
    make_client("acme")

    with pytest.raises(Conflict):
        create_client(ACTOR, "ACME", "Another Acme")


@pytest.mark.parametrize("ref", ["a", "Acme Law", "-acme", "acme_law", "x" * 40])
def test_bad_client_ref_is_refused_with_a_field_error(app, ref):
    with pytest.raises(InvalidInput) as raised:
        create_client(ACTOR, ref, "Acme")

    assert "ref" in raised.value.fields


def test_invitation_link_sets_the_password_once(make_client, caplog):
    client = make_client("acme")
    user = invite_user(ACTOR, "Pat@Acme.example", "Pat", Role.CLIENT_USER, client)
    with caplog.at_level("INFO", logger="seatmeter.mail"):
        db.session.commit()
    link = next(line for line in caplog.text.splitlines() if "/invitation/" in line)
    raw = link.rsplit("/", 1)[1]

    assert user.email == "pat@acme.example"
    assert authenticate("pat@acme.example", "whatever-password") is None  # no password yet
    accept_invitation(raw, "a good long password")
    assert authenticate("pat@acme.example", "a good long password") == user
    with pytest.raises(NotFound):
        accept_invitation(raw, "another long password")


def test_client_roles_need_a_client_and_reseller_roles_must_not_have_one(make_client):
    client = make_client("acme")

    with pytest.raises(InvalidInput):
        invite_user(ACTOR, "x@example.com", "X", Role.CLIENT_ADMIN, None)
    with pytest.raises(InvalidInput):
        invite_user(ACTOR, "y@example.com", "Y", Role.RESELLER_STAFF, client)


def test_expired_reset_link_is_refused_and_a_new_one_can_be_asked_for(make_user):
    user = make_user(Role.RESELLER_ADMIN)
    old_session_id = user.get_id()
    request_password_reset(user.email)
    token = db.session.scalars(select(OneTimeToken).where(OneTimeToken.user_id == user.id)).one()
    assert token.purpose is TokenPurpose.PASSWORD_RESET
    assert token.expires_at - utcnow() <= timedelta(hours=1)

    token.expires_at = utcnow() - timedelta(seconds=1)
    db.session.flush()
    with pytest.raises(NotFound):
        reset_password("anything", "a brand new password")

    # A fresh request works; until it is used, the current session stays valid.
    request_password_reset(user.email)
    tokens = db.session.scalars(select(OneTimeToken).where(OneTimeToken.user_id == user.id)).all()
    assert len(tokens) == 2
    assert load_user_for_session(old_session_id) == user


def test_reset_request_for_unknown_address_does_nothing(app):
    request_password_reset("nobody@example.com")

    assert db.session.scalars(select(OneTimeToken)).all() == []


def test_weak_password_is_refused_with_the_reason(make_user, caplog):
    user = make_user(Role.RESELLER_ADMIN)
    with caplog.at_level("INFO", logger="seatmeter.mail"):
        request_password_reset(user.email)
        db.session.commit()
    raw = next(line for line in caplog.text.splitlines() if "/password/reset/" in line).rsplit("/", 1)[1]

    with pytest.raises(InvalidInput, match="at least 12 characters"):
        reset_password(raw, "short")
    reset_password(raw, "long enough password")
    assert load_user_for_session(f"{user.id}:1") is None  # the old session version is gone


def test_api_token_is_stored_hashed_and_authenticates(make_client):
    client = make_client("acme")
    token, raw = create_api_token(ACTOR, "RMM sync", Role.CLIENT_ADMIN, client)

    stored = db.session.scalars(select(ApiToken)).one()
    assert raw.startswith("smt_")
    assert stored.token_hash == hashlib.sha256(raw.encode()).hexdigest()
    assert raw not in (stored.token_hash, stored.token_prefix)
    assert authenticate_api_token(raw) == token
    assert authenticate_api_token(raw + "x") is None
    assert token.last_used_at is not None


def test_revoked_token_no_longer_authenticates(make_client):
    token, raw = create_api_token(ACTOR, "script", Role.RESELLER_ADMIN, None)

    revoke_api_token(ACTOR, token)

    assert authenticate_api_token(raw) is None


def test_token_scope_rules(make_client):
    client = make_client("acme")

    with pytest.raises(InvalidInput, match="needs the client"):
        create_api_token(ACTOR, "x", Role.CLIENT_USER, None)
    with pytest.raises(InvalidInput, match="do not give it a client"):
        create_api_token(ACTOR, "x", Role.RESELLER_STAFF, client)
    with pytest.raises(InvalidInput):
        create_api_token(ACTOR, "  ", Role.RESELLER_ADMIN, None)


def test_end_user_email_and_extension_are_unique_within_a_client(make_client):
    acme, other = make_client("acme"), make_client("other")
    add_end_user(ACTOR, acme, "Alice", "alice@acme.example", "201")

    with pytest.raises(Conflict, match="e-mail"):
        add_end_user(ACTOR, acme, "Alice Again", "ALICE@acme.example")
    with pytest.raises(Conflict, match="extension"):
        add_end_user(ACTOR, acme, "Bob", "bob@acme.example", "201")
    with pytest.raises(InvalidInput):
        add_end_user(ACTOR, acme, "Carol", "carol@acme.example", "ext-9")
    # Another client may use the same address and extension.
    add_end_user(ACTOR, other, "Alice", "alice@acme.example", "201")


def test_changes_are_in_the_audit_log(make_client):
    client = make_client("acme")
    create_api_token(Actor(label="nora@msp.example", user_id=None), "PSA", Role.CLIENT_ADMIN, client)

    events = db.session.scalars(select(AuditEvent).order_by(AuditEvent.id)).all()
    assert [(e.action, e.client_id) for e in events] == [
        ("client.created", client.id),
        ("api_token.created", client.id),
    ]
    assert events[1].actor == "nora@msp.example"
    assert events[1].details == {"name": "PSA", "role": "client_admin"}


def test_user_loader_rejects_malformed_ids(app):
    assert load_user_for_session("abc") is None
    assert load_user_for_session("1") is None
    assert load_user_for_session("999999:1") is None
