"""Benchmark: provision N hosted-desktop seats on moto_server with real Celery workers.

    python bench/provision.py [--seats 1000] [--concurrency 4] [--workers 1]
                              [--database-url postgresql+psycopg://...] [--broker redis://127.0.0.1:6379/11]

Starts moto_server on 127.0.0.1 (WorkSpaces), builds a throw-away database with the migrations
(SQLite in a temporary folder unless --database-url names a PostgreSQL server database, which is
then used as is: give it an empty one), orders the seats for one client with one person per seat,
and starts ``--workers`` Celery worker processes of ``--concurrency`` each. Prints the seats per
second and the time from the order's commit to the last seat active.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import secrets
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from alembic import command
from flask import Flask
from sqlalchemy import Connection, Engine, event, func, select
from sqlalchemy.exc import OperationalError

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from portal import create_app  # noqa: E402
from portal.accounts.end_user_services import add_end_user  # noqa: E402
from portal.accounts.models import EndUser  # noqa: E402
from portal.accounts.services import create_client  # noqa: E402
from portal.audit.services import Actor  # noqa: E402
from portal.catalog.services import get_product, seed_catalog  # noqa: E402
from portal.cli import alembic_config  # noqa: E402
from portal.config import load_config  # noqa: E402
from portal.db import db  # noqa: E402
from portal.orders.models import Seat, SeatState  # noqa: E402
from portal.transactions import task_transaction  # noqa: E402
from provisioning import MAX_SEATS_PER_ORDER, place_order  # noqa: E402
from tests.standins.aws import DUMMY_KEY_ID, DUMMY_SECRET, REGION, make_workspaces_directory  # noqa: E402
from tests.standins.ports import LOOPBACK, free_port, start_server, stop_process  # noqa: E402

ACTOR = Actor.system("benchmark")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seats", type=int, default=1000)
    parser.add_argument("--workers", type=int, default=1, help="worker processes (celery worker)")
    parser.add_argument("--concurrency", type=int, default=4, help="pool processes per worker")
    parser.add_argument("--database-url", default=None)
    parser.add_argument("--broker", default=os.environ.get("CELERY_BROKER_URL"))
    parser.add_argument("--timeout", type=float, default=900)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="seatmeter-bench-") as folder:
        tmp = Path(folder)
        bin_dir = Path(sys.executable).parent
        os.environ.update(
            AWS_ACCESS_KEY_ID=DUMMY_KEY_ID,
            AWS_SECRET_ACCESS_KEY=DUMMY_SECRET,
            AWS_DEFAULT_REGION=REGION,
            AWS_CONFIG_FILE="/nonexistent",
            AWS_SHARED_CREDENTIALS_FILE="/nonexistent",
        )
        port = free_port()
        moto = start_server(
            [str(bin_dir / "moto_server"), "-H", LOOPBACK, "-p", str(port)], port, tmp / "moto.log"
        )
        workers: list[subprocess.Popen[bytes]] = []
        try:
            endpoint = f"http://{LOOPBACK}:{port}"
            database_url = args.database_url or f"sqlite:///{tmp / 'bench.sqlite'}"
            command.upgrade(alembic_config(database_url), "head")
            env = {
                "DATABASE_URL": database_url,
                "CELERY_BROKER_URL": args.broker or f"sqla+sqlite:///{tmp / 'broker.sqlite'}",
                "SECRET_KEY": secrets.token_urlsafe(32),
                "PROVISIONING_QUEUE": f"bench-{secrets.token_hex(4)}",
                "WORKSPACES_DIRECTORY_ID": make_workspaces_directory(endpoint),
                "WORKSPACES_BUNDLE_ID": "wsb-12345678",
                "WORKSPACES_ENDPOINT_URL": endpoint,
                "KAMAILIO_DB_URL": f"sqlite:///{tmp / 'kamailio.sqlite'}",
                # A seat whose worker gave up on a busy database is healed by the sweep within
                # seconds, not the production defaults' minutes.
                "PROVISIONING_LEASE_SECONDS": "20",
                "PROVISIONING_SWEEP_INTERVAL": "5",
                "PROVISIONING_SWEEP_SECONDS": "10",
            }
            app = create_app({**env, "INSTANCE_PATH": str(tmp / "instance")})
            app.config.update(load_config({**os.environ, **env}, tmp / "instance"))
            immediate_transactions(app.extensions["seatmeter.db"].engine)
            with app.app_context():
                seed_catalog(ACTOR)
                client = create_client(ACTOR, "bench", "Benchmark Client")
                for i in range(args.seats):
                    add_end_user(ACTOR, client, f"Person {i}", f"person{i}@bench.example")
                db.session.commit()
            for n in range(args.workers):
                # The first worker also runs beat (the sweep), as `make run` does.
                workers.append(start_worker(env, args.concurrency, tmp / f"worker-{n}.log", beat=n == 0))
            started = time.monotonic()
            for first in range(0, args.seats, MAX_SEATS_PER_ORDER):
                place_batch(app, first, min(MAX_SEATS_PER_ORDER, args.seats - first))
            ordered = time.monotonic()
            active = 0
            while active < args.seats and time.monotonic() - started < args.timeout:
                time.sleep(0.5)
                with app.app_context():
                    active = (
                        db.session.scalar(
                            select(func.count()).select_from(Seat).where(Seat.state == SeatState.ACTIVE)
                        )
                        or 0
                    )
                    failed = db.session.scalar(
                        select(func.count()).select_from(Seat).where(Seat.state == SeatState.FAILED)
                    )
                if sys.stdout.isatty():
                    print(f"\r{active}/{args.seats} active, {failed} failed", end="", flush=True)
            elapsed = time.monotonic() - started
            print()
            processes = args.workers * args.concurrency
            print(
                f"{active} of {args.seats} seats active in {elapsed:.1f} s "
                f"(orders committed after {ordered - started:.1f} s) with {args.workers} worker(s) "
                f"x {args.concurrency} processes = {processes}: {active / elapsed:.1f} seats per second"
            )
            print(f"database: {database_url.split(':')[0]}, broker: {env['CELERY_BROKER_URL'].split(':')[0]}")
            app.extensions["seatmeter.db"].engine.dispose()
        finally:
            for worker in workers:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(worker.pid, signal.SIGTERM)
            for worker in workers:
                try:
                    worker.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    with contextlib.suppress(ProcessLookupError):
                        os.killpg(worker.pid, signal.SIGKILL)
                    worker.wait()
            stop_process(moto)


def immediate_transactions(engine: Engine) -> None:
    """SQLite only: take the write lock when a transaction begins (BEGIN IMMEDIATE).

    The portal's SQLite set-up begins transactions DEFERRED; one that reads and then writes fails
    at once ("database is locked") whenever another process committed in between, which the busy
    workers do all the time. The benchmark's ordering side waits for the lock instead.
    """
    if engine.dialect.name != "sqlite":
        return
    for listener in list(engine.dispatch.begin):
        event.remove(engine, "begin", listener)

    @event.listens_for(engine, "begin")
    def _begin_immediate(connection: Connection) -> None:
        connection.exec_driver_sql("BEGIN IMMEDIATE")


def place_batch(app: Flask, offset: int, count: int) -> None:
    """One order; the seats are queued as it commits. SQLite's single writer may ask us to retry."""
    for attempt in range(1, 11):
        with app.app_context():
            try:
                with task_transaction():
                    query = select(EndUser).order_by(EndUser.id).offset(offset).limit(count)
                    people = list(db.session.scalars(query))
                    place_order(ACTOR, people[0].client, get_product("desktop"), len(people), people)
                return
            except OperationalError:  # rolled back by task_transaction
                if attempt == 10:
                    raise
        time.sleep(0.2 * attempt)


def start_worker(env: dict[str, str], concurrency: int, log: Path, beat: bool) -> subprocess.Popen[bytes]:
    argv = [
        str(Path(sys.executable).parent / "celery"),
        "-A",
        "portal.worker:celery",
        "worker",
        "--concurrency",
        str(concurrency),
        "--queues",
        env["PROVISIONING_QUEUE"],
        "--hostname",
        f"bench-{secrets.token_hex(3)}@%h",
        "--without-mingle",
        "--without-gossip",
        "--loglevel",
        "WARNING",
    ]
    with log.open("wb") as out:
        proc = subprocess.Popen(
            argv,
            stdout=out,
            stderr=subprocess.STDOUT,
            env={**os.environ, **env},
            cwd=ROOT,
            start_new_session=True,  # its own process group: stopping it stops its pool too
        )
    return proc


if __name__ == "__main__":
    main()
