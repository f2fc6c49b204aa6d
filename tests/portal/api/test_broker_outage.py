"""A broker outage never turns a committed order into an error page, nor makes the client wait.

Redis runs as a real process on its own port; the test stops it, orders, and starts it again.
"""

from __future__ import annotations

import shutil
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import redis
import time_machine
from flask import Flask
from sqlalchemy import Engine, func, select

from portal import create_app
from portal.db import db
from portal.orders.models import Seat
from portal.transactions import task_transaction
from provisioning import engine
from tests.conftest import TEST_QUEUE, app_overrides
from tests.standins.ports import LOOPBACK, free_port, wait_for_port

pytestmark = [
    pytest.mark.faults,
    pytest.mark.skipif(shutil.which("redis-server") is None, reason="redis-server not installed"),
]


@dataclass
class RedisServer:
    port: int
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://{LOOPBACK}:{self.port}/0"

    def start(self) -> None:
        self.process = subprocess.Popen(
            [
                "redis-server",
                "--bind",
                LOOPBACK,
                "--port",
                str(self.port),
                "--save",
                "",
                "--appendonly",
                "no",
            ],
            stdout=subprocess.DEVNULL,
        )
        wait_for_port(LOOPBACK, self.port, timeout=10)

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(timeout=10)
            self.process = None


@pytest.fixture
def broker() -> Iterator[RedisServer]:
    server = RedisServer(free_port())
    yield server
    server.stop()


@pytest.fixture
def app(engine: Engine, database_url: str, tmp_path: Path, broker: RedisServer) -> Iterator[Flask]:
    """The suite's app (tests/conftest.py), with this test's Redis as its broker."""
    overrides = {**app_overrides(database_url, tmp_path / "instance"), "CELERY_BROKER_URL": broker.url}
    app = create_app(overrides)
    connection = engine.connect()
    transaction = connection.begin()
    app.extensions["seatmeter.db"].bind_to(connection)
    with app.app_context():
        yield app
    transaction.rollback()
    connection.close()
    app.extensions["seatmeter.db"].engine.dispose()


def _seats() -> int:
    return db.session.scalar(select(func.count(Seat.id))) or 0


def test_an_order_during_a_broker_outage_is_placed_at_once_and_queued_when_it_is_back(
    app, broker, acme_api, caplog
):
    app.extensions["seatmeter.broker_outage"].pause_seconds = 1
    started = time.monotonic()
    with caplog.at_level("WARNING", logger="seatmeter.celery"):
        response = acme_api.post("/orders", {"product": "voip", "quantity": 60})
    took = time.monotonic() - started

    # Before: 60 failed sends of 0.6 to 6 s each, far past gunicorn's 30 s timeout.
    assert response.status_code == 201
    assert took < 2, f"the order took {took:.1f} s"
    assert _seats() == 60
    assert caplog.text.count("could not queue") == 1  # one attempt, then the rest are skipped
    assert "the broker was down moments ago" in caplog.text

    broker.start()
    time.sleep(1.1)  # the pause after the failure is over
    # The sweep finds the seats whose first message never left, once they are overdue.
    overdue = time.time() + app.config["PROVISIONING_SWEEP_SECONDS"] + 1
    with time_machine.travel(overdue, tick=False), task_transaction():
        queued = engine.sweep()
    assert len(queued) == 60
    assert redis.Redis.from_url(broker.url).llen(TEST_QUEUE) == 60
