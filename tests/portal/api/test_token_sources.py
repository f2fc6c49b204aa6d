"""An API token used from a new source address is a security event in the audit log (issue 17).

Once per address per token, with the address and the User-Agent: a token copied to another machine
shows up the first time it is used there, and a busy token does not flood the log.
"""

from __future__ import annotations

from sqlalchemy import select

from portal.accounts.models import Role
from portal.audit.models import AuditEvent
from portal.db import db

OFFICE = "198.51.100.7"
ELSEWHERE = "203.0.113.99"
AGENT = "ninja-rmm-agent/5.3"


def _new_address_events() -> list[AuditEvent]:
    db.session.expire_all()
    return list(
        db.session.scalars(
            select(AuditEvent).where(AuditEvent.action == "api_token.new_address").order_by(AuditEvent.id)
        )
    )


def _call(app, token: str, address: str, path: str = "/api/v1/catalog"):
    http = app.test_client()
    http.environ_base.update(REMOTE_ADDR=address, HTTP_USER_AGENT=AGENT)
    return http.get(path, headers={"Authorization": f"Bearer {token}"})


def test_first_use_from_each_address_is_recorded_once(app, acme, make_token):
    token = make_token(Role.CLIENT_ADMIN, acme)

    for _ in range(3):
        assert _call(app, token, OFFICE).status_code == 200
    assert _call(app, token, ELSEWHERE).status_code == 200
    assert _call(app, token, OFFICE).status_code == 200

    events = _new_address_events()
    assert [(event.source_address, event.user_agent, event.details) for event in events] == [
        (OFFICE, AGENT, {"address": OFFICE}),
        (ELSEWHERE, AGENT, {"address": ELSEWHERE}),
    ]
    assert {event.actor_token_id for event in events} == {events[0].actor_token_id}
    assert events[0].client_id == acme.id
    assert events[0].actor.startswith("API token")


def test_each_token_has_its_own_addresses(app, acme, make_token):
    first, second = make_token(Role.CLIENT_ADMIN, acme), make_token(Role.RESELLER_STAFF)

    _call(app, first, OFFICE)
    _call(app, second, OFFICE)
    _call(app, second, OFFICE)

    assert len({event.actor_token_id for event in _new_address_events()}) == 2
    assert len(_new_address_events()) == 2


def test_a_refused_role_still_counts_as_a_use_but_a_bad_token_does_not(app, acme, make_token):
    # A valid token asking for what its role may not do was still used from that address.
    staff = make_token(Role.RESELLER_STAFF)
    http = app.test_client()
    http.environ_base.update(REMOTE_ADDR=ELSEWHERE, HTTP_USER_AGENT=AGENT)
    refused = http.post("/api/v1/clients", json={}, headers={"Authorization": f"Bearer {staff}"})
    assert refused.status_code == 403
    assert [event.source_address for event in _new_address_events()] == [ELSEWHERE]

    assert _call(app, "smt_not-a-token", OFFICE).status_code == 401
    assert len(_new_address_events()) == 1


def test_the_reseller_sees_it_on_the_audit_page_and_the_client_dashboard_stays_quiet(
    app, acme, make_token, make_user, login, client
):
    _call(app, make_token(Role.CLIENT_ADMIN, acme), ELSEWHERE)

    login(make_user(Role.RESELLER_ADMIN))
    page = client.get("/reseller/audit/?action=api_token.new_address").get_data(as_text=True)
    assert ELSEWHERE in page and AGENT in page
    client.post("/logout")

    login(make_user(Role.CLIENT_ADMIN, acme))
    assert "api_token.new_address" not in client.get("/client/").get_data(as_text=True)
