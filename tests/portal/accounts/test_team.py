"""The reseller's team page (/reseller/team): invite, change role, disable, enable, re-invite, remove.

Reseller administrators only; nobody can disable or remove themselves; the last active administrator
is never demoted, disabled or removed; disabling ends the person's open sessions at once.
"""

from __future__ import annotations

import re

import pytest
from sqlalchemy import select

from portal.accounts.models import Role, User
from portal.accounts.people_services import disable_user, remove_user
from portal.audit.models import AuditEvent
from portal.audit.services import Actor
from portal.db import db
from portal.errors import Conflict
from tests.conftest import TEST_PASSWORD

pytestmark = pytest.mark.usefixtures("each_request_loads_its_user")


@pytest.fixture
def ada(make_user, login) -> User:
    user = make_user(Role.RESELLER_ADMIN, email="ada@northwind-it.example")
    login(user)
    return user


@pytest.fixture
def sam(make_user) -> User:
    return make_user(Role.RESELLER_STAFF, email="sam@northwind-it.example")


def _fresh(user_id: int) -> User | None:
    db.session.expire_all()
    return db.session.get(User, user_id)


def _sentences(action: str) -> list[str]:
    events = db.session.scalars(select(AuditEvent).where(AuditEvent.action == action))
    return [event.details["summary"] for event in events]


def test_the_team_page_lists_the_reseller_people_only(client, ada, sam, make_client, make_user):
    make_user(Role.CLIENT_ADMIN, make_client("acme"), email="grace@acme.example")

    page = client.get("/reseller/team").get_data(as_text=True)

    assert "ada@northwind-it.example" in page and "sam@northwind-it.example" in page
    assert "grace@acme.example" not in page
    assert 'href="/reseller/team"' in page  # in the navigation


def test_an_admin_invites_a_staff_member_who_accepts(app, client, ada, caplog):
    with caplog.at_level("INFO", logger="seatmeter.mail"):
        response = client.post(
            "/reseller/team",
            data={"name": "Sue Clerk", "email": "sue@northwind-it.example", "role": "reseller_staff"},
        )

    assert response.status_code == 302 and response.headers["Location"] == "/reseller/team"
    sue = db.session.scalars(select(User).where(User.email == "sue@northwind-it.example")).one()
    assert (sue.role, sue.client_id, sue.password_hash) == (Role.RESELLER_STAFF, None, None)
    assert "invited" in client.get("/reseller/team").get_data(as_text=True)
    link = re.search(r"(/invitation/\S+)", caplog.text).group(1)
    newcomer = app.test_client()
    accepted = newcomer.post(link, data={"password": "sues own passphrase", "confirm": "sues own passphrase"})
    assert accepted.status_code == 302
    assert newcomer.get("/reseller/").status_code == 200


def test_an_admin_can_be_invited_too(client, ada):
    client.post(
        "/reseller/team", data={"name": "Al", "email": "al@northwind-it.example", "role": "reseller_admin"}
    )

    assert db.session.scalars(select(User.role).where(User.email == "al@northwind-it.example")).one() is (
        Role.RESELLER_ADMIN
    )


def test_a_bad_invitation_is_shown_next_to_its_field(client, ada, sam):
    response = client.post(
        "/reseller/team", data={"name": "", "email": "not an address", "role": "reseller_staff"}
    )
    assert "Not a valid e-mail address" in response.get_data(as_text=True)

    taken = client.post("/reseller/team", data={"name": "S", "email": sam.email, "role": "reseller_staff"})
    assert "Already in use." in taken.get_data(as_text=True)


def test_changing_a_role_takes_effect_and_is_a_sentence_in_the_audit_log(client, ada, sam):
    response = client.post(f"/reseller/team/{sam.id}/role", data={f"u{sam.id}-role": "reseller_admin"})

    assert response.status_code == 302
    assert _fresh(sam.id).role is Role.RESELLER_ADMIN
    assert _sentences("user.role_changed") == [
        "ada@northwind-it.example changed sam@northwind-it.example from reseller staff to reseller admin."
    ]
    audit = client.get("/reseller/audit/").get_data(as_text=True)
    assert "changed sam@northwind-it.example from reseller staff to reseller admin." in audit


def test_the_last_active_admin_cannot_be_demoted(client, ada, sam):
    response = client.post(f"/reseller/team/{ada.id}/role", data={f"u{ada.id}-role": "reseller_staff"})

    assert response.status_code == 409
    assert "last active administrator" in response.get_data(as_text=True)
    assert _fresh(ada.id).role is Role.RESELLER_ADMIN


def test_an_admin_may_step_down_when_another_admin_remains(client, ada, make_user):
    make_user(Role.RESELLER_ADMIN, email="bea@northwind-it.example")

    response = client.post(f"/reseller/team/{ada.id}/role", data={f"u{ada.id}-role": "reseller_staff"})

    assert response.status_code == 302 and response.headers["Location"] == "/"
    assert _fresh(ada.id).role is Role.RESELLER_STAFF
    assert client.get("/reseller/team").status_code == 403  # staff from now on


def test_an_invited_admin_who_never_logged_in_does_not_count_as_the_other_admin(client, ada):
    client.post(
        "/reseller/team", data={"name": "Al", "email": "al@northwind-it.example", "role": "reseller_admin"}
    )

    response = client.post(f"/reseller/team/{ada.id}/role", data={f"u{ada.id}-role": "reseller_staff"})

    assert response.status_code == 409
    assert _fresh(ada.id).role is Role.RESELLER_ADMIN


def test_disabling_ends_the_open_session_at_once_and_blocks_login(app, client, ada, sam):
    elsewhere = app.test_client()
    assert elsewhere.post("/login", data={"email": sam.email, "password": TEST_PASSWORD}).status_code == 302
    assert elsewhere.get("/reseller/").status_code == 200

    response = client.post(f"/reseller/team/{sam.id}/disable")

    assert response.status_code == 302
    assert elsewhere.get("/reseller/").status_code == 302  # to the login page
    again = app.test_client().post("/login", data={"email": sam.email, "password": TEST_PASSWORD})
    assert again.status_code != 302
    assert "disabled" in client.get("/reseller/team").get_data(as_text=True)
    assert _sentences("user.disabled") == [
        "ada@northwind-it.example disabled sam@northwind-it.example: they can no longer log in."
    ]


def test_enabling_lets_them_log_in_again(app, client, ada, sam):
    client.post(f"/reseller/team/{sam.id}/disable")

    assert client.post(f"/reseller/team/{sam.id}/enable").status_code == 302

    assert (
        app.test_client().post("/login", data={"email": sam.email, "password": TEST_PASSWORD}).status_code
        == 302
    )


def test_nobody_disables_or_removes_themselves(client, ada, make_user):
    make_user(Role.RESELLER_ADMIN, email="bea@northwind-it.example")

    disabled = client.post(f"/reseller/team/{ada.id}/disable")
    removed = client.post(f"/reseller/team/{ada.id}/remove")

    assert (disabled.status_code, removed.status_code) == (409, 409)
    assert "You cannot disable yourself" in disabled.get_data(as_text=True)
    assert "You cannot remove yourself" in removed.get_data(as_text=True)
    assert _fresh(ada.id).active


def test_a_disabled_admin_does_not_count_as_the_other_admin(client, ada, make_user):
    bea = make_user(Role.RESELLER_ADMIN, email="bea@northwind-it.example")
    assert client.post(f"/reseller/team/{bea.id}/disable").status_code == 302

    response = client.post(f"/reseller/team/{ada.id}/role", data={f"u{ada.id}-role": "reseller_staff"})

    assert response.status_code == 409
    assert _fresh(ada.id).role is Role.RESELLER_ADMIN


@pytest.mark.parametrize("operation", [disable_user, remove_user])
def test_the_last_active_admin_is_never_disabled_or_removed_by_anyone(ada, operation):
    # On the page this is reached through "not yourself" first; the command line or a script has no self.
    with pytest.raises(Conflict, match="last active administrator"):
        operation(Actor.system("tests"), None, ada)
    db.session.rollback()

    assert _fresh(ada.id) is not None and _fresh(ada.id).active


def test_removal_asks_first_on_a_page_that_needs_no_javascript(client, ada, sam):
    page = client.get(f"/reseller/team/{sam.id}/remove")

    text = page.get_data(as_text=True)
    assert page.status_code == 200
    assert "Remove sam" in text and "cannot be undone" in text
    assert f'action="/reseller/team/{sam.id}/remove"' in text and 'method="post"' in text
    assert 'href="/reseller/team"' in text  # the way back
    assert _fresh(sam.id) is not None  # asking changed nothing


def test_removing_deletes_the_account_and_ends_its_session(app, client, ada, sam):
    elsewhere = app.test_client()
    elsewhere.post("/login", data={"email": sam.email, "password": TEST_PASSWORD})

    response = client.post(f"/reseller/team/{sam.id}/remove")

    assert response.status_code == 302 and response.headers["Location"] == "/reseller/team"
    assert _fresh(sam.id) is None
    assert elsewhere.get("/reseller/").status_code == 302
    assert "sam@northwind-it.example" not in client.get("/reseller/team").get_data(as_text=True)
    assert _sentences("user.removed") == [
        "ada@northwind-it.example removed sam@northwind-it.example (reseller staff)."
    ]


def test_a_removed_address_can_be_invited_again(client, ada, sam):
    client.post(f"/reseller/team/{sam.id}/remove")

    response = client.post(
        "/reseller/team", data={"name": "Sam", "email": sam.email, "role": "reseller_staff"}
    )

    assert response.status_code == 302


def test_reinviting_voids_the_older_link(app, client, ada, caplog):
    with caplog.at_level("INFO", logger="seatmeter.mail"):
        client.post(
            "/reseller/team",
            data={"name": "Sue", "email": "sue@northwind-it.example", "role": "reseller_staff"},
        )
        sue = db.session.scalars(select(User).where(User.email == "sue@northwind-it.example")).one()
        assert client.post(f"/reseller/team/{sue.id}/reinvite").status_code == 302
    first, second = re.findall(r"(/invitation/\S+)", caplog.text)

    password = {"password": "sues own passphrase", "confirm": "sues own passphrase"}
    assert app.test_client().post(first, data=password).status_code == 404
    assert app.test_client().post(second, data=password).status_code == 302
    assert _sentences("user.reinvited") == [
        "ada@northwind-it.example sent sue@northwind-it.example a new invitation."
    ]


def test_someone_who_accepted_is_not_reinvited(client, ada, sam):
    response = client.post(f"/reseller/team/{sam.id}/reinvite")

    assert response.status_code == 409
    assert "already accepted" in response.get_data(as_text=True)


def test_a_client_user_is_not_on_the_team(client, ada, make_client, make_user):
    grace = make_user(Role.CLIENT_ADMIN, make_client("acme"))

    for path in (f"/reseller/team/{grace.id}/disable", f"/reseller/team/{grace.id}/remove"):
        assert client.post(path).status_code == 404
    assert client.get(f"/reseller/team/{grace.id}/remove").status_code == 404
    assert _fresh(grace.id).active


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/reseller/team"),
        ("POST", "/reseller/team"),
        ("POST", "/reseller/team/{id}/role"),
        ("POST", "/reseller/team/{id}/disable"),
        ("POST", "/reseller/team/{id}/enable"),
        ("POST", "/reseller/team/{id}/reinvite"),
        ("GET", "/reseller/team/{id}/remove"),
        ("POST", "/reseller/team/{id}/remove"),
    ],
)
def test_staff_may_not_manage_the_team(client, make_user, login, sam, method, path):
    other = make_user(Role.RESELLER_STAFF, email="tom@northwind-it.example")
    login(sam)

    response = client.open(
        path.format(id=other.id), method=method, data={f"u{other.id}-role": "reseller_admin"}
    )

    assert response.status_code == 403
    assert _fresh(other.id).active and _fresh(other.id).role is Role.RESELLER_STAFF
