"""Fixtures for e-mail notices: a real SMTP server (aiosmtpd) on loopback, and the queued jobs."""

from __future__ import annotations

from collections.abc import Iterator
from email import message_from_bytes, policy
from email.message import EmailMessage
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from flask import Flask

from portal.accounts.models import Client
from portal.accounts.services import ensure_reseller
from portal.db import db
from portal.notices.services import SEND_TASK
from portal.notices.tasks import send_notices
from tests.standins.ports import LOOPBACK, free_port


class Mailbox:
    """What the SMTP server received: one parsed message per recipient."""

    def __init__(self) -> None:
        self.messages: list[EmailMessage] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        for _ in envelope.rcpt_tos:
            parsed = message_from_bytes(envelope.original_content or envelope.content, policy=policy.default)
            assert isinstance(parsed, EmailMessage)
            self.messages.append(parsed)
        return "250 OK"

    def to(self, address: str) -> list[EmailMessage]:
        return [message for message in self.messages if message["To"] == address]


@pytest.fixture
def mailbox(app: Flask) -> Iterator[Mailbox]:
    handler = Mailbox()
    port = free_port()
    controller = Controller(handler, hostname=LOOPBACK, port=port)
    controller.start()
    app.config.update(MAIL_SERVER=LOOPBACK, MAIL_PORT=port)
    yield handler
    controller.stop()


@pytest.fixture
def acme(catalog: None, make_client: Any) -> Client:
    reseller = ensure_reseller("Northwind IT")
    reseller.support_email = "help@northwind.example"
    db.session.commit()
    client: Client = make_client("acme", "Acme Law")
    return client


@pytest.fixture
def queued(app: Flask, monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, list[Any]]]:
    """The jobs sent to the broker after each commit (through the app's own Celery app)."""
    sent: list[tuple[str, list[Any]]] = []
    monkeypatch.setattr(
        app.extensions["celery"], "send_task", lambda name, args, **kw: sent.append((name, list(args)))
    )
    return sent


def notice_jobs(queued: list[tuple[str, list[Any]]]) -> list[int]:
    return [args[0] for name, args in queued if name == SEND_TASK]


def run_notice_jobs(queued: list[tuple[str, list[Any]]]) -> list[dict[str, int]]:
    """Run every queued notice job in this process, as a worker would; other jobs are dropped."""
    results = [send_notices.run(event_id) for event_id in notice_jobs(queued)]
    queued.clear()
    db.session.expire_all()
    return results
