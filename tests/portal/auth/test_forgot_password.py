"""/password/forgot does the same work whether or not the address has an account (finding 9).

The time of the answer is mostly the mail server's: every request talks to it once after the
commit, and only an account gets a message. Tested by what happens, not by a stopwatch.
"""

from __future__ import annotations

import pytest
from aiosmtpd.controller import Controller
from sqlalchemy import select

from portal.accounts.models import Role
from portal.accounts.services import invite_user
from portal.audit.models import AuditEvent
from portal.audit.services import Actor
from portal.db import db
from tests.standins.ports import free_port


class CountingHandler:
    def __init__(self) -> None:
        self.sessions = 0
        self.messages: list[list[str]] = []

    async def handle_EHLO(self, server, session, envelope, hostname, responses):
        self.sessions += 1
        session.host_name = hostname
        return responses

    async def handle_DATA(self, server, session, envelope):
        self.messages.append(envelope.rcpt_tos)
        return "250 OK"


@pytest.fixture
def mail_server(app):
    handler = CountingHandler()
    port = free_port()
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    app.config.update(MAIL_SERVER="127.0.0.1", MAIL_PORT=port)
    yield handler
    controller.stop()


def test_every_address_gets_the_same_answer_and_the_same_work(client, make_user, make_client, mail_server):
    account = make_user(Role.RESELLER_ADMIN)
    inactive = make_user(Role.RESELLER_STAFF)
    inactive.active = False
    invited = invite_user(
        Actor.system("tests"), "invited@acme.example", "I", Role.CLIENT_ADMIN, make_client()
    )
    db.session.commit()
    mail_server.messages.clear()
    mail_server.sessions = 0

    answers = {}
    for email in (account.email, "nobody@example.com", inactive.email, invited.email):
        before = mail_server.sessions
        response = client.post("/password/forgot", data={"email": email}, follow_redirects=True)
        answers[email] = (response.status_code, response.request.path, response.get_data(as_text=True))
        assert mail_server.sessions == before + 1, f"{email}: the mail server was not reached once"

    assert len(set(answers.values())) == 1
    assert mail_server.messages == [[account.email]]  # only the account gets a link
    asked = db.session.scalars(
        select(AuditEvent).where(AuditEvent.action == "user.password_reset_requested")
    ).all()
    assert len(asked) == 4


def test_no_mail_server_is_reached_when_the_request_rolls_back(app, mail_server):
    from portal.accounts.services import request_password_reset

    request_password_reset("nobody@example.com")
    db.session.rollback()

    assert mail_server.sessions == 0
