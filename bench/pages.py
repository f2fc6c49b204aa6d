"""Pages and API benchmark on PostgreSQL: the portal served by gunicorn, loaded over loopback.

    python bench/pages.py                       # 1,000 clients, a client with 200 seats, c=16
    python bench/pages.py --clients 200 --seconds 3
    python bench/pages.py --app-dir /tmp/old    # serve another checkout's code on the same data

It creates a scratch database on the server of ``--database-url`` (default: ``$DATABASE_URL``),
applies the migrations, seeds the catalog, ``--clients`` clients with a year of licence history
(COPY), one client with ``--seats`` assigned seats, a reseller admin, a client admin and an API
token; starts gunicorn with the repository's ``gunicorn.conf.py`` on 127.0.0.1, logs in over HTTP
like a browser, and for each path runs ``--concurrency`` threads, each with its own keep-alive
connection, for ``--seconds``. It prints req/s, p50, p95, p99 and errors per path beside the
``/healthz`` ceiling (answered before Flask: no session, no database) and the ratio.

The load generator runs on the same machine as the server and PostgreSQL: on a small machine it
takes its share of the CPU, so the ceiling is "what this client can drive", and the ratios are the
useful figures. Rate limiting is switched off and two-step login is not required, so that what is
measured is the page, not the throttle. With ``--history FILE`` the table is appended to FILE with
the machine, date and load average.
"""

from __future__ import annotations

import argparse
import http.client
import io
import os
import random
import re
import signal
import subprocess
import sys
import threading
import time
import urllib.parse
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from alembic import command
from sqlalchemy import text
from sqlalchemy.engine import make_url

from portal import create_app
from portal.accounts.end_user_services import add_end_user
from portal.accounts.models import Role
from portal.accounts.services import create_client, create_user_with_password
from portal.accounts.token_services import create_api_token
from portal.audit.services import Actor
from portal.catalog.services import get_product, seed_catalog
from portal.cli import alembic_config
from portal.db import db
from provisioning import place_order

# Run as a script (python bench/NAME.py) the repository root is not on sys.path; bench.report needs it.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from bench.report import machine, publish, scratch_database

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
PASSWORD = "bench-password-" + "x" * 12
BENCH = Actor.system("bench")
PRODUCT_ODDS = {"desktop": 0.6, "desktop-pro": 0.1, "exchange": 0.85, "voip": 0.35}
NULL = "\\N"


@dataclass(frozen=True)
class Seeded:
    client_ref: str
    reseller_email: str
    client_email: str
    api_token: str


@dataclass(frozen=True)
class Figure:
    name: str
    requests: int
    errors: int
    seconds: float
    latencies: list[float]

    @property
    def rate(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0

    def percentile(self, share: float) -> float:
        if not self.latencies:
            return float("nan")
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(share * len(ordered)))] * 1000


def _copy(connection: object, statement: str, data: io.StringIO) -> None:
    with connection.cursor() as cursor, cursor.copy(statement) as copy:  # type: ignore[attr-defined]
        while chunk := data.read(1 << 20):
            copy.write(chunk)


def _history(
    first_client: int, last_client: int, products: dict[str, int], rng: random.Random
) -> io.StringIO:
    """A year of licence intervals for each client: 3 to 9 people, each on a few products."""
    now = datetime.now(UTC)
    year_ago = now - timedelta(days=365)
    rows = io.StringIO()
    for client_id in range(first_client, last_client + 1):
        for person in range(rng.randint(3, 9)):
            for product, odds in PRODUCT_ODDS.items():
                if rng.random() >= odds:
                    continue
                start = year_ago + timedelta(days=rng.randint(0, 200))
                stop = start + timedelta(days=rng.randint(20, 150)) if rng.random() < 0.3 else None
                rows.write(
                    f"{client_id}\t{products[product]}\tuser{person}@client{client_id}.example\tseat\t"
                    f"{start.isoformat()}\t{stop.isoformat() if stop else NULL}\t{now.isoformat()}\n"
                )
    rows.seek(0)
    return rows


def seed_portal(url: str, seats: int) -> Seeded:
    """The migrated database with the catalog, a reseller admin, a client admin, an API token and one
    client with ``seats`` active, assigned seats. Through the product's services: SQLite works too."""
    command.upgrade(alembic_config(url), "head")
    app = create_app(_app_config(url))
    with app.app_context():
        seed_catalog(BENCH)
        client = create_client(BENCH, "bench-client", "Bench Client")
        reseller = create_user_with_password(
            BENCH, "reseller@bench.example", "Reseller", Role.RESELLER_ADMIN, None, PASSWORD
        )
        admin = create_user_with_password(
            BENCH, "admin@bench.example", "Admin", Role.CLIENT_ADMIN, client, PASSWORD
        )
        _token, raw_token = create_api_token(BENCH, "bench", Role.CLIENT_ADMIN, client)
        people = [
            add_end_user(BENCH, client, f"Person {n}", f"person{n}@bench.example") for n in range(seats)
        ]
        exchange = get_product("exchange")
        for first in range(0, seats, 100):
            place_order(BENCH, client, exchange, min(100, seats - first), people[first : first + 100])
        db.session.execute(
            text("UPDATE seats SET state = 'active', activated_at = :now WHERE client_id = :id"),
            {"id": client.id, "now": datetime.now(UTC)},
        )
        db.session.commit()
        seeded = Seeded("bench-client", reseller.email, admin.email, raw_token)
    app.extensions["seatmeter.db"].engine.dispose()
    return seeded


def seed(url: str, clients: int, seats: int, rng: random.Random) -> Seeded:
    seeded = seed_portal(url, seats)
    app = create_app(_app_config(url))
    with app.app_context():
        products: dict[str, int] = {
            code: id_ for code, id_ in db.session.execute(text("SELECT code, id FROM products"))
        }
        bench_client_id = db.session.execute(
            text("SELECT id FROM clients WHERE ref = :ref"), {"ref": seeded.client_ref}
        ).scalar_one()

        raw = db.engine.raw_connection()
        connection = raw.driver_connection
        assert connection is not None
        try:
            now = datetime.now(UTC).isoformat()
            others = io.StringIO(
                "".join(f"client{i}\tClient {i}\tactive\t{now}\n" for i in range(1, clients))
            )
            _copy(connection, "COPY clients (ref, name, status, created_at) FROM STDIN", others)
            with connection.cursor() as cursor:
                cursor.execute("SELECT min(id), max(id) FROM clients")
                low, high = cursor.fetchone()
            _copy(
                connection,
                "COPY licence_intervals"
                " (client_id, product_id, user_key, source, start_at, stop_at, created_at) FROM STDIN",
                _history(low, high, products, rng),
            )
            connection.commit()
            with connection.cursor() as cursor:
                cursor.execute("ANALYZE")
            connection.commit()
        finally:
            raw.close()
        intervals = db.session.execute(text("SELECT count(*) FROM licence_intervals")).scalar_one()
        db.session.rollback()
    print(
        f"seeded {clients:,} clients, {intervals:,} licence intervals, {seats} seats at client "
        f"#{bench_client_id}",
        flush=True,
    )
    return seeded


def _app_config(url: str) -> dict[str, str]:
    return {"DATABASE_URL": url, "SECRET_KEY": "bench-" + "x" * 26, "CELERY_BROKER_URL": "memory://"}


class Server:
    """gunicorn with the repository's gunicorn.conf.py, on a loopback port."""

    def __init__(self, url: str, port: int, app_dir: Path, workers: int) -> None:
        env = dict(os.environ)
        env.update(
            DATABASE_URL=url,
            SECRET_KEY=_app_config(url)["SECRET_KEY"],
            CELERY_BROKER_URL="memory://",
            PUBLIC_URL=f"http://127.0.0.1:{port}",
            GUNICORN_BIND=f"127.0.0.1:{port}",
            WEB_CONCURRENCY=str(workers),
            TWO_FACTOR_REQUIRED_ROLES="none",
            RATELIMIT_ENABLED="false",
            PYTHONPATH=str(app_dir),
        )
        gunicorn = Path(sys.executable).with_name("gunicorn")
        self.port = port
        self.process = subprocess.Popen(
            [str(gunicorn), "-c", str(app_dir / "gunicorn.conf.py"), "--chdir", str(app_dir), "wsgi:app"],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )

    def wait_ready(self, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise SystemExit("gunicorn exited; run it by hand to see why")
            try:
                status, _headers, _body = request(self.port, "GET", "/healthz")
                if status == 200:
                    return
            except OSError:
                pass
            time.sleep(0.2)
        raise SystemExit("gunicorn did not answer /healthz in time")

    def stop(self) -> None:
        os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)


def request(
    port: int, method: str, path: str, body: str | None = None, headers: dict[str, str] | None = None
) -> tuple[int, http.client.HTTPMessage, bytes]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        connection.request(method, path, body=body, headers=headers or {})
        response = connection.getresponse()
        return response.status, response.headers, response.read()
    finally:
        connection.close()


def _cookie(headers: http.client.HTTPMessage) -> str:
    return "; ".join(value.split(";", 1)[0] for value in headers.get_all("Set-Cookie") or [])


def log_in(port: int, email: str) -> dict[str, str]:
    """Log in through the form like a browser; the headers that carry the session."""
    user_agent = {"User-Agent": "seatmeter-bench"}
    status, headers, body = request(port, "GET", "/login", headers=user_agent)
    match = re.search(rb'name="csrf_token" (?:type="hidden" )?value="([^"]+)"', body)
    if status != 200 or match is None:
        raise SystemExit(f"no login form ({status})")
    form = urllib.parse.urlencode(
        {"csrf_token": match.group(1).decode(), "email": email, "password": PASSWORD}
    )
    status, headers, _body = request(
        port,
        "POST",
        "/login",
        form,
        user_agent | {"Cookie": _cookie(headers), "Content-Type": "application/x-www-form-urlencoded"},
    )
    if status != 302:
        raise SystemExit(f"login of {email} failed ({status})")
    return user_agent | {"Cookie": _cookie(headers)}


def load(
    port: int, name: str, path: str, headers: dict[str, str], concurrency: int, seconds: float
) -> Figure:
    """``concurrency`` threads, each with one keep-alive connection, for ``seconds`` after a warm-up."""
    latencies: list[list[float]] = [[] for _ in range(concurrency)]
    errors = [0] * concurrency
    problems: Counter[str] = Counter()
    start_line = threading.Barrier(concurrency + 1)
    measuring = threading.Event()
    done = threading.Event()

    def worker(index: int) -> None:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        start_line.wait()
        while not done.is_set():
            began = time.perf_counter()
            try:
                connection.request("GET", path, headers=headers)
                response = connection.getresponse()
                response.read()
                ok = response.status == 200
                problem = f"HTTP {response.status}"
            except (OSError, http.client.HTTPException) as error:
                ok = False
                problem = type(error).__name__
                connection.close()
                connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
            if measuring.is_set() and not done.is_set():
                latencies[index].append(time.perf_counter() - began)
                if not ok:
                    errors[index] += 1
                    problems[problem] += 1
        connection.close()

    threads = [threading.Thread(target=worker, args=(index,), daemon=True) for index in range(concurrency)]
    for thread in threads:
        thread.start()
    start_line.wait()
    time.sleep(min(2.0, seconds / 3))  # warm-up: connections open, caches and pools filled
    measuring.set()
    began = time.perf_counter()
    time.sleep(seconds)
    elapsed = time.perf_counter() - began
    done.set()
    for thread in threads:
        thread.join()
    every = [latency for per_thread in latencies for latency in per_thread]
    if problems:
        print(f"  {name}: errors {dict(problems)}", flush=True)
    return Figure(name, len(every), sum(errors), elapsed, every)


def measure(
    port: int, seeded: Seeded, concurrency: int, seconds: float, seats: str, clients: str
) -> list[Figure]:
    """Log in as the reseller and the client admin, then load each path in turn: /healthz (the
    ceiling), /client/, /reseller/ and GET /api/v1/seats. ``tests/portal/web/test_load.py`` runs
    this briefly in CI."""
    reseller = log_in(port, seeded.reseller_email)
    client_admin = log_in(port, seeded.client_email)
    api = {"Authorization": f"Bearer {seeded.api_token}"}
    paths = [
        ("/healthz", "/healthz", {}),
        (f"/client/ ({seats})", "/client/", client_admin),
        (f"/reseller/ ({clients})", "/reseller/", reseller),
        ("GET /api/v1/seats", "/api/v1/seats", api),
    ]
    figures = []
    for label, path, headers in paths:
        figure = load(port, label, path, headers, concurrency, seconds)
        print(f"  {label}: {figure.rate:,.0f} req/s, {figure.errors} errors", flush=True)
        figures.append(figure)
    return figures


def table(figures: list[Figure], concurrency: int) -> str:
    ceiling = figures[0]
    lines = [
        f"| path (c={concurrency}) | req/s | p50 ms | p95 ms | p99 ms | errors | /healthz req/s "
        "| ceiling ÷ path |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for figure in figures:
        ratio = ceiling.rate / figure.rate if figure.rate else float("inf")
        lines.append(
            f"| {figure.name} | {figure.rate:,.0f} | {figure.percentile(0.5):.1f} | "
            f"{figure.percentile(0.95):.1f} | {figure.percentile(0.99):.1f} | {figure.errors} | "
            f"{ceiling.rate:,.0f} | {ratio:.1f}x |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--clients", type=int, default=1_000)
    parser.add_argument("--seats", type=int, default=200)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--seconds", type=float, default=8.0, help="measured time per path")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn workers (WEB_CONCURRENCY)")
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--app-dir", type=Path, default=ROOT, help="the checkout whose code is served")
    parser.add_argument("--label", default="", help="a note for the table's heading (a commit, 'before')")
    parser.add_argument("--history", type=Path, help="append the table to this Markdown file")
    parser.add_argument("--database-url", default=os.environ.get("DATABASE_URL") or DEFAULT_URL)
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--keep", action="store_true", help="keep the scratch database")
    args = parser.parse_args()

    server_url = make_url(args.database_url).set(drivername="postgresql+psycopg")
    if server_url.get_backend_name() != "postgresql":
        parser.error("the bench runs on PostgreSQL")
    with scratch_database(server_url, args.keep) as url:
        seeded = seed(url, args.clients, args.seats, random.Random(args.seed))
        server = Server(url, args.port, args.app_dir.resolve(), args.workers)
        try:
            server.wait_ready()
            figures = measure(
                args.port,
                seeded,
                args.concurrency,
                args.seconds,
                f"{args.seats} seats",
                f"{args.clients:,} clients",
            )
        finally:
            server.stop()
    body = (
        f"{machine()}\n\ngunicorn {args.workers} workers x 8 threads, "
        f"{args.seconds:g} s per path, load generator on the same machine\n\n"
        f"{table(figures, args.concurrency)}"
    )
    publish("Pages and API", args.label, body, args.history)


if __name__ == "__main__":
    main()
