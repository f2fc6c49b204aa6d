"""Fixtures for outgoing webhooks: a real receiver process, and the jobs the app queues."""

from __future__ import annotations

import json
import sys
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from portal.accounts.models import Client
from portal.db import db
from portal.notices.services import SEND_TASK as NOTICE_SEND_TASK
from portal.webhooks_out.models import WebhookDelivery
from portal.webhooks_out.tasks import deliver
from tests.standins.ports import LOOPBACK, free_port, start_server, stop_process

REPO_ROOT = Path(__file__).resolve().parents[3]


@dataclass
class Receiver:
    url: str

    def received(self) -> list[dict[str, Any]]:
        with urllib.request.urlopen(self.url, timeout=5) as answer:
            return json.loads(answer.read())


@pytest.fixture
def webhook_receiver(tmp_path: Path) -> Iterator[Any]:
    """``webhook_receiver(secret, fail_first=0)`` starts tests/standins/webhook_receiver.py."""
    processes = []

    def _start(secret: str, fail_first: int = 0) -> Receiver:
        port = free_port()
        argv = [
            sys.executable,
            "-m",
            "tests.standins.webhook_receiver",
            "--port",
            str(port),
            "--secret",
            secret,
            "--fail-first",
            str(fail_first),
        ]
        processes.append(start_server(argv, port, tmp_path / f"receiver-{port}.log", cwd=REPO_ROOT))
        return Receiver(url=f"http://{LOOPBACK}:{port}/hooks")

    yield _start
    for process in processes:
        stop_process(process)


@pytest.fixture
def acme(catalog, make_client) -> Client:
    return make_client("acme")


@pytest.fixture
def queued(app, monkeypatch) -> list[tuple[str, list[Any]]]:
    """The jobs sent to the broker after each commit (through the app's own Celery app).

    E-mail notices of the same events are left out: tests/portal/notices covers them.
    """
    sent: list[tuple[str, list[Any]]] = []

    def _send(name: str, args: list[Any], **kw: Any) -> None:
        if name != NOTICE_SEND_TASK:
            sent.append((name, list(args)))

    monkeypatch.setattr(app.extensions["celery"], "send_task", _send)
    return sent


def run_deliveries(queued: list[tuple[str, list[Any]]]) -> list[str]:
    """Run every queued delivery job in this process, as a worker would (retries included).

    Other jobs (a seat's next step) are dropped: the tests take those steps themselves.
    """
    outcomes = []
    while queued:
        name, args = queued.pop(0)
        if name == deliver.name:
            outcomes.append(deliver.apply(args=args).get())
    db.session.expire_all()
    return outcomes


def delivery(delivery_id: int) -> WebhookDelivery:
    found = db.session.get(WebhookDelivery, delivery_id)
    assert found is not None
    return found
