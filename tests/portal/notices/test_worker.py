"""A real Celery worker sends a change's notice after the commit, to a real SMTP server."""

from __future__ import annotations

import os
import secrets
import time
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller

from portal import create_app
from portal.accounts.models import Role
from portal.accounts.services import create_client, create_user_with_password, ensure_reseller
from portal.db import db
from provisioning import suspend_client
from tests.conftest import TEST_PASSWORD, ScratchDatabases
from tests.portal.notices.conftest import Mailbox
from tests.portal.webhooks_out.test_worker import _start_worker, _stop_worker
from tests.provisioning.conftest import ACTOR
from tests.standins.ports import LOOPBACK, free_port


@pytest.mark.slow
def test_a_worker_sends_the_suspension_notice_after_the_commit(
    tmp_path: Path, scratch_databases: ScratchDatabases
) -> None:
    database_url = scratch_databases.migrated_sqlite(tmp_path / "seatmeter.sqlite")
    broker_url = f"sqla+sqlite:///{tmp_path / 'broker.sqlite'}"
    secret_key = secrets.token_urlsafe(32)
    mailbox = Mailbox()
    smtp_port = free_port()
    smtp = Controller(mailbox, hostname=LOOPBACK, port=smtp_port)
    smtp.start()
    settings = {
        "DATABASE_URL": database_url,
        "SECRET_KEY": secret_key,
        "CELERY_BROKER_URL": broker_url,
        "MAIL_SERVER": LOOPBACK,
        "MAIL_PORT": str(smtp_port),
    }
    app = create_app({**settings, "INSTANCE_PATH": str(tmp_path / "instance")})
    worker = _start_worker({**os.environ, **settings, "PYTHONUNBUFFERED": "1"}, tmp_path / "worker.log")
    try:
        with app.app_context():
            ensure_reseller("Northwind IT")
            client = create_client(ACTOR, "acme", "Acme Law LLP")
            create_user_with_password(
                ACTOR, "boss@acme.example", "Boss", Role.CLIENT_ADMIN, client, TEST_PASSWORD
            )
            db.session.commit()

            suspend_client(ACTOR, client, "Asked by the owner")
            db.session.commit()

            deadline = time.monotonic() + 120
            while not mailbox.messages:
                assert worker.poll() is None, (tmp_path / "worker.log").read_text()
                assert time.monotonic() < deadline, (tmp_path / "worker.log").read_text()[-4000:]
                time.sleep(0.3)
            [message] = mailbox.messages
            assert message["To"] == "boss@acme.example"
            assert message["Subject"] == "Your services are suspended"
            text = message.get_body(preferencelist=("plain",))
            assert text is not None and "Northwind IT" in text.get_content()
    finally:
        _stop_worker(worker)
        smtp.stop()
        app.extensions["seatmeter.db"].engine.dispose()
