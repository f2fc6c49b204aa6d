"""A real Celery worker process, SIGKILLed while ConnectWise is creating an agreement addition for it:
the PSA has the addition, Seatmeter's record of it was never written. The next run completes the
month from what the PSA holds, without a second addition.

Everything is a real process: the worker (``celery -A portal.worker:celery``, configured from its
environment like a production one), its SQLite broker and database files, the ConnectWise stand-in.
"""

from __future__ import annotations

import os
import secrets
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from sqlalchemy import select

from metering.psa.mapping import link_client, link_product
from metering.psa.models import PsaSync, PsaSyncState
from metering.psa.tasks import sync_month_now
from portal import create_app
from portal.accounts.services import create_client
from portal.catalog.services import get_product, seed_catalog
from portal.db import db
from tests.metering.months import TESTS, Month, event
from tests.metering.psa.conftest import CATALOG, OCTOBER_HOLDERS
from tests.standins.connectwise import ConnectWiseServer

pytestmark = [pytest.mark.slow, pytest.mark.faults]

REPO_ROOT = Path(__file__).resolve().parents[3]


def _start_worker(env: dict[str, str], log_path: Path) -> subprocess.Popen[bytes]:
    argv = [
        str(Path(sys.executable).parent / "celery"),
        "-A",
        "portal.worker:celery",
        "worker",
        "--queues",
        "seatmeter",
        "--pool",
        "solo",
        "--loglevel",
        "INFO",
        "--without-gossip",
        "--without-mingle",
        "--without-heartbeat",
    ]
    with log_path.open("wb") as log:
        return subprocess.Popen(  # fixed argument list
            argv, stdout=log, stderr=subprocess.STDOUT, cwd=REPO_ROOT, env=env, start_new_session=True
        )


def _wait_for(condition, what: str, log_path: Path, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.2)
    pytest.fail(f"{what} did not happen; worker log:\n{log_path.read_text(errors='replace')[-4000:]}")


def test_a_worker_killed_while_the_psa_creates_an_addition_leaves_no_duplicate(
    scratch_databases, connectwise: ConnectWiseServer, tmp_path: Path
):
    database_url = scratch_databases.create_migrated("psa_worker")
    settings = {**connectwise.settings(), "PSA_LEASE_SECONDS": "2"}
    broker = f"sqla+sqlite:///{tmp_path / 'broker.sqlite'}"
    secret = secrets.token_urlsafe(32)
    app = create_app(
        {
            "DATABASE_URL": database_url,
            "SECRET_KEY": secret,
            "CELERY_BROKER_URL": broker,
            "INSTANCE_PATH": str(tmp_path / "instance"),
            **settings,
            "PSA_LEASE_SECONDS": 2,
        }
    )
    seeded_companies = connectwise.seed(
        companies=[{"identifier": ref, "name": ref} for ref in ("A", "B", "C")]
    )
    agreements = connectwise.seed(
        agreements=[{"company_id": company, "name": "Licences"} for company in seeded_companies["companies"]]
    )["agreements"]
    items = connectwise.seed(catalog=[{"identifier": item, "description": item} for item in CATALOG.values()])
    env = {key: value for key, value in os.environ.items() if not key.startswith(("CONNECTWISE_", "PSA_"))}
    env.update(
        DATABASE_URL=database_url,
        CELERY_BROKER_URL=broker,
        SECRET_KEY=secret,
        INSTANCE_PATH=str(tmp_path / "worker-instance"),
        PYTHONUNBUFFERED="1",
        **settings,
    )
    log_path = tmp_path / "worker.log"
    worker: subprocess.Popen[bytes] | None = None
    try:
        with app.app_context():
            seed_catalog(TESTS)
            month = Month()
            clients = {ref: create_client(TESTS, ref, ref.title()) for ref in ("acme", "bright", "cedar")}
            db.session.commit()
            for client, agreement_id in zip(clients.values(), agreements, strict=True):
                link_client(TESTS, client, 0, client.name, agreement_id, "Licences")
            for code, item_id in zip(CATALOG, items["catalog"], strict=True):
                link_product(TESTS, get_product(code), item_id, CATALOG[code])
            db.session.commit()
            month.events(
                *(
                    event(f"{r}-{u}-{p}", r, f"{u}@{r}.example", p, "start", "2026-10-02T09:00:00Z")
                    for r, u, p in OCTOBER_HOLDERS
                )
            )
            month.close("2026-10")
            # The first addition is made at once, but its answer takes a minute: time to kill.
            connectwise.delay_next("POST", 60)
            month.finalize("2026-10")  # queues the three months' syncs on the broker file

            worker = _start_worker(env, log_path)
            _wait_for(lambda: len(connectwise.additions()) == 1, "the first addition", log_path)
            os.killpg(worker.pid, signal.SIGKILL)
            worker.wait()
            worker = None

            db.session.expire_all()
            states = db.session.scalars(select(PsaSync.state)).all()
            assert PsaSyncState.DONE not in states  # the killed worker recorded nothing
            assert len(connectwise.additions()) == 1

            time.sleep(2.5)  # the dead worker's lease runs out
            for client in clients.values():
                sync_month_now(client.id, "2026-10")

            db.session.expire_all()
            assert set(db.session.scalars(select(PsaSync.state))) == {PsaSyncState.DONE}
            found: dict[tuple[int, str], int] = {}
            for addition in connectwise.additions():
                key = (addition["agreementId"], addition["product"]["identifier"])
                assert key not in found, f"{key} twice"
                found[key] = int(addition["quantity"])
            by_ref = dict(zip(clients, agreements, strict=True))
            assert found == {
                (by_ref["acme"], "DESKTOP"): 2,
                (by_ref["acme"], "MAILBOX"): 1,
                (by_ref["bright"], "DESKTOP"): 1,
                (by_ref["bright"], "MAILBOX"): 3,
                (by_ref["cedar"], "DESKTOP"): 4,
            }
    finally:
        if worker is not None and worker.poll() is None:
            os.killpg(worker.pid, signal.SIGKILL)
            worker.wait()
        app.extensions["seatmeter.db"].engine.dispose()
