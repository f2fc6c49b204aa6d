"""A real Celery worker delivers an event after the commit and retries it through the broker."""

from __future__ import annotations

import contextlib
import os
import secrets
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from sqlalchemy import select

from portal import create_app
from portal.accounts.services import create_client
from portal.db import db
from portal.webhooks_out.models import DeliveryStatus, WebhookAttempt, WebhookDelivery
from portal.webhooks_out.services import EndpointSettings, create_endpoint, signing_secret
from provisioning import suspend_client
from tests.provisioning.conftest import ACTOR

REPO_ROOT = Path(__file__).resolve().parents[3]


def _start_worker(env: dict[str, str], log_path: Path) -> subprocess.Popen[bytes]:
    argv = [
        str(Path(sys.executable).parent / "celery"),
        "-A",
        "portal.worker:celery",
        "worker",
        "--queues",
        "seatmeter",
        "--concurrency",
        "1",
        "--pool",
        "solo",
        "--loglevel",
        "INFO",
        "--without-gossip",
        "--without-mingle",
        "--without-heartbeat",
    ]
    with log_path.open("wb") as log:
        return subprocess.Popen(
            argv, stdout=log, stderr=subprocess.STDOUT, cwd=REPO_ROOT, env=env, start_new_session=True
        )


def _stop_worker(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGQUIT)
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=5)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()


@pytest.mark.slow
def test_a_worker_delivers_after_the_commit_and_retries_through_the_broker(
    tmp_path, webhook_receiver, scratch_databases
):
    database_url = scratch_databases.migrated_sqlite(tmp_path / "seatmeter.sqlite")
    # Its own broker file: no other test's worker or queue is involved.
    broker_url = f"sqla+sqlite:///{tmp_path / 'broker.sqlite'}"
    secret_key = secrets.token_urlsafe(32)
    app = create_app(
        {
            "DATABASE_URL": database_url,
            "SECRET_KEY": secret_key,
            "CELERY_BROKER_URL": broker_url,
            "INSTANCE_PATH": str(tmp_path / "instance"),
            "MAIL_SERVER": "",
        }
    )
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "CELERY_BROKER_URL": broker_url,
        "SECRET_KEY": secret_key,
        "MAIL_SERVER": "",
        "WEBHOOK_RETRY_BASE_SECONDS": "0",  # retry at once: the test need not wait out the backoff
        "PYTHONUNBUFFERED": "1",
    }
    worker = _start_worker(env, tmp_path / "worker.log")
    try:
        with app.app_context():
            client = create_client(ACTOR, "acme", "Acme Law LLP")
            endpoint = create_endpoint(ACTOR, EndpointSettings(url="http://127.0.0.1:9/", allow_private=True))
            db.session.commit()
            receiver = webhook_receiver(signing_secret(endpoint), fail_first=2)
            endpoint.url = receiver.url
            db.session.commit()

            suspend_client(ACTOR, client, "Asked by the owner")
            db.session.commit()

            deadline = time.monotonic() + 120
            while len(receiver.received()) < 3:
                assert worker.poll() is None, (tmp_path / "worker.log").read_text()
                assert time.monotonic() < deadline, (tmp_path / "worker.log").read_text()[-4000:]
                time.sleep(0.3)
            time.sleep(0.5)  # the worker records the last attempt just after answering

            seen = receiver.received()
            assert [r["status"] for r in seen] == [500, 500, 200]
            assert all(r["verified"] for r in seen) and len({r["id"] for r in seen}) == 1
            db.session.expire_all()
            [delivery] = db.session.scalars(select(WebhookDelivery)).all()
            assert delivery.status is DeliveryStatus.DELIVERED
            codes = db.session.scalars(
                select(WebhookAttempt.response_code)
                .where(WebhookAttempt.delivery_id == delivery.id)
                .order_by(WebhookAttempt.number)
            ).all()
            assert codes == [500, 500, 200]
    finally:
        _stop_worker(worker)
        app.extensions["seatmeter.db"].engine.dispose()
