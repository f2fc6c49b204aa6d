"""VoIP seats on the colo's Kamailio SIP registrar: rows in Kamailio's own `subscriber` table.

A seat is the SIP account ``<extension>@<client ref>.<SIP_DOMAIN>``: one domain per client, so two
clients may use the same extension numbers. The extension is ``1000 + seat id``, fixed when the seat
is created, which also makes creating idempotent (an upsert on username + domain).

Kamailio authenticates from the plain ``password`` column (``calculate_ha1`` on); ``ha1``/``ha1b``
are filled as well so an operator may switch to hashed look-ups. A suspended seat's row moves to
``seatmeter_suspended_subscriber`` in the same database (Kamailio never reads it, so REGISTER is
refused at once) and moves back on resume, so the phone keeps its password. The password is never
blanked: an empty password would let a phone with an empty password in.
"""

from __future__ import annotations

import contextlib
import hashlib
import secrets
from collections.abc import Iterator, Mapping
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event, text
from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError

from provisioning.adapters.base import (
    Account,
    AccountState,
    AdapterError,
    Discovered,
    FoundAccount,
    SeatRequest,
    account_evidence,
)

EXTENSION_BASE = 1000
HOLD_TABLE = "seatmeter_suspended_subscriber"
# Kamailio's auth_db schema, version 7 (what kamailio's db_sqlite/auth_db-create.sql makes).
_SQLITE_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS version (id INTEGER PRIMARY KEY NOT NULL,"
    " table_name VARCHAR(32) NOT NULL, table_version INTEGER DEFAULT 0 NOT NULL,"
    " CONSTRAINT version_table_name_idx UNIQUE (table_name))",
    "CREATE TABLE IF NOT EXISTS subscriber (id INTEGER PRIMARY KEY NOT NULL,"
    " username VARCHAR(64) DEFAULT '' NOT NULL, domain VARCHAR(64) DEFAULT '' NOT NULL,"
    " password VARCHAR(64) DEFAULT '' NOT NULL, ha1 VARCHAR(128) DEFAULT '' NOT NULL,"
    " ha1b VARCHAR(128) DEFAULT '' NOT NULL, CONSTRAINT subscriber_account_idx UNIQUE (username, domain))",
    "INSERT INTO version (table_name, table_version) SELECT 'subscriber', 7"
    " WHERE NOT EXISTS (SELECT 1 FROM version WHERE table_name = 'subscriber')",
)
_HOLD_SCHEMA = (
    f"CREATE TABLE IF NOT EXISTS {HOLD_TABLE} (username VARCHAR(64) NOT NULL,"
    " domain VARCHAR(64) NOT NULL, password VARCHAR(64) NOT NULL, ha1 VARCHAR(128) NOT NULL,"
    " ha1b VARCHAR(128) NOT NULL, PRIMARY KEY (username, domain))"
)


def extension_for(seat_id: int) -> str:
    return str(EXTENSION_BASE + seat_id)


def _md5(value: str) -> str:
    return hashlib.md5(value.encode(), usedforsecurity=False).hexdigest()


class KamailioAdapter:
    name = "kamailio"

    def __init__(self, db_url: str, sip_domain: str) -> None:
        self.sip_domain = sip_domain
        self.db_url = db_url
        self._engine: Engine | None = None

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> KamailioAdapter:
        return cls(config["KAMAILIO_DB_URL"], config["SIP_DOMAIN"])

    # -- naming ------------------------------------------------------------------------------------
    def domain_for(self, client_ref: str) -> str:
        return f"{client_ref}.{self.sip_domain}"

    def address(self, request: SeatRequest) -> tuple[str, str]:
        # A recorded account wins: an extension adopted by a true-up keeps its own number.
        if request.external_id and "@" in request.external_id:
            username, _, domain = request.external_id.partition("@")
            return username, domain
        return extension_for(request.seat_id), self.domain_for(request.client_ref)

    # -- the Adapter protocol ------------------------------------------------------------------------
    def create(self, request: SeatRequest) -> Account:
        username, domain = self.address(request)
        with self._transaction() as conn:
            found = self._row(conn, "subscriber", username, domain)
            if found is None and self._row(conn, HOLD_TABLE, username, domain) is not None:
                raise AdapterError(
                    f"Extension {username}@{domain} is suspended, not missing.", retryable=False
                )
            if found is None:
                password = secrets.token_urlsafe(16)
                try:
                    with conn.begin_nested():
                        conn.execute(
                            text(
                                "INSERT INTO subscriber (username, domain, password, ha1, ha1b)"
                                " VALUES (:u, :d, :p, :ha1, :ha1b)"
                            ),
                            {
                                "u": username,
                                "d": domain,
                                "p": password,
                                **self._hashes(username, domain, password),
                            },
                        )
                except IntegrityError:
                    pass  # another attempt of this seat inserted it a moment ago
                found = self._row(conn, "subscriber", username, domain)
                assert found is not None
        # A repeated create hands back the same password: it was never shown if the first create's
        # result was lost, and the engine only keeps it on the seat's first success.
        return self._account(
            username, domain, AccountState.ENABLED, request.seat_id, secret=found["password"]
        )

    def assign(self, request: SeatRequest) -> Account:
        # The subscriber row has no notion of a person: the extension belongs to the seat, and
        # Seatmeter binds the seat to its end user. Nothing changes at the registrar.
        return self._require(request)

    def unassign(self, request: SeatRequest) -> Account | None:
        return self.describe(request)

    def suspend(self, request: SeatRequest) -> Account:
        username, domain = self.address(request)
        with self._transaction() as conn:
            if self._row(conn, "subscriber", username, domain) is not None:
                self._move(conn, "subscriber", HOLD_TABLE, username, domain)
            elif self._row(conn, HOLD_TABLE, username, domain) is None:
                raise AdapterError(f"Extension {username}@{domain} does not exist.", retryable=False)
        return self._account(username, domain, AccountState.DISABLED, request.seat_id)

    def resume(self, request: SeatRequest) -> Account:
        username, domain = self.address(request)
        with self._transaction() as conn:
            if self._row(conn, HOLD_TABLE, username, domain) is not None:
                conn.execute(
                    text("DELETE FROM subscriber WHERE username = :u AND domain = :d"),
                    {"u": username, "d": domain},
                )
                self._move(conn, HOLD_TABLE, "subscriber", username, domain)
            elif self._row(conn, "subscriber", username, domain) is None:
                raise AdapterError(f"Extension {username}@{domain} does not exist.", retryable=False)
        return self._account(username, domain, AccountState.ENABLED, request.seat_id)

    def reset_password(self, request: SeatRequest) -> Account:
        """A new generated password for the extension: the old one is refused from the next REGISTER.

        Repeating the step (a worker died after the change) writes yet another password; the one the
        last successful call returns is the one the client admin is shown.
        """
        username, domain = self.address(request)
        password = secrets.token_urlsafe(16)
        with self._transaction() as conn:
            changed = conn.execute(
                text(
                    "UPDATE subscriber SET password = :p, ha1 = :ha1, ha1b = :ha1b"
                    " WHERE username = :u AND domain = :d"
                ),
                {"u": username, "d": domain, "p": password, **self._hashes(username, domain, password)},
            )
            if changed.rowcount != 1:
                raise AdapterError(
                    f"Extension {username}@{domain} does not exist or is suspended.", retryable=False
                )
        return self._account(username, domain, AccountState.ENABLED, request.seat_id, secret=password)

    def terminate(self, request: SeatRequest) -> None:
        username, domain = self.address(request)
        with self._transaction() as conn:
            for table in ("subscriber", HOLD_TABLE):
                conn.execute(
                    text(f"DELETE FROM {table} WHERE username = :u AND domain = :d"),  # nosec B608  # names Kamailio's two fixed tables (subscriber, HOLD_TABLE); values are bound
                    {"u": username, "d": domain},
                )

    def describe(self, request: SeatRequest) -> Account | None:
        username, domain = self.address(request)
        with self._transaction() as conn:
            if self._row(conn, "subscriber", username, domain) is not None:
                return self._account(username, domain, AccountState.ENABLED, request.seat_id)
            if self._row(conn, HOLD_TABLE, username, domain) is not None:
                return self._account(username, domain, AccountState.DISABLED, request.seat_id)
        return None

    def list_accounts(self) -> list[Account]:
        suffix = f"%.{self.sip_domain}"
        accounts = []
        with self._transaction() as conn:
            for table, state in (("subscriber", AccountState.ENABLED), (HOLD_TABLE, AccountState.DISABLED)):
                rows = conn.execute(
                    text(
                        f"SELECT username, domain FROM {table} WHERE domain LIKE :s ORDER BY domain, username"  # nosec B608  # names Kamailio's two fixed tables (subscriber, HOLD_TABLE); values are bound
                    ),
                    {"s": suffix},
                )
                for username, domain in rows:
                    seat_id = int(username) - EXTENSION_BASE if username.isdigit() else None
                    accounts.append(self._account(username, domain, state, seat_id))
        return accounts

    # -- true-ups ------------------------------------------------------------------------------------
    def discover(self) -> list[Discovered]:
        """Every extension: its SIP domain names the client; the number is all it says of a person."""
        suffix = f".{self.sip_domain}"
        found = []
        for account in self.list_accounts():
            username, _, domain = account.external_id.partition("@")
            evidence = {
                **account_evidence(account),
                "username": username,
                "domain": domain,
                "table": "subscriber" if account.state is AccountState.ENABLED else "suspended (held aside)",
            }
            found.append(
                Discovered(
                    account,
                    evidence,
                    client_ref=domain[: -len(suffix)] if domain.endswith(suffix) else None,
                    named_by="the SIP domain",
                    extension=username,
                )
            )
        return found

    def account_name(self, email: str) -> str | None:
        return None  # an extension belongs to its seat, not to a person

    def extension_of(self, found: FoundAccount) -> str | None:
        return found.external_id.partition("@")[0] or None

    def removal_problem(self, found: FoundAccount) -> str | None:
        # A subscriber made by hand at the colo may be anyone's phone: only remove what we named.
        username = found.external_id.partition("@")[0]
        if found.seat_id is None or found.client_ref is None or username != extension_for(found.seat_id):
            return (
                "Seatmeter removes only the extensions it names (1000 + seat number @ client.SIP domain); "
                "remove this one on the registrar."
            )
        return None

    # -- helpers -------------------------------------------------------------------------------------
    def _require(self, request: SeatRequest) -> Account:
        account = self.describe(request)
        if account is None:
            username, domain = self.address(request)
            raise AdapterError(f"Extension {username}@{domain} does not exist.", retryable=False)
        return account

    @staticmethod
    def _account(
        username: str, domain: str, state: AccountState, seat_id: int | None, secret: str | None = None
    ) -> Account:
        external_id = f"{username}@{domain}"
        return Account(external_id=external_id, state=state, name=external_id, seat_id=seat_id, secret=secret)

    @staticmethod
    def _hashes(username: str, domain: str, password: str) -> dict[str, str]:
        # The realm is the domain (auth_check("$fd", ...)); ha1b is the user@domain variant.
        return {
            "ha1": _md5(f"{username}:{domain}:{password}"),
            "ha1b": _md5(f"{username}@{domain}:{domain}:{password}"),
        }

    @staticmethod
    def _row(conn: Connection, table: str, username: str, domain: str) -> Any:
        return (
            conn.execute(
                text(f"SELECT username, domain, password FROM {table} WHERE username = :u AND domain = :d"),  # nosec B608  # names Kamailio's two fixed tables (subscriber, HOLD_TABLE); values are bound
                {"u": username, "d": domain},
            )
            .mappings()
            .first()
        )

    @staticmethod
    def _move(conn: Connection, source: str, target: str, username: str, domain: str) -> None:
        params = {"u": username, "d": domain}
        conn.execute(text(f"DELETE FROM {target} WHERE username = :u AND domain = :d"), params)  # nosec B608  # names Kamailio's two fixed tables (subscriber, HOLD_TABLE); values are bound
        conn.execute(
            text(
                f"INSERT INTO {target} (username, domain, password, ha1, ha1b)"  # nosec B608  # names Kamailio's two fixed tables (subscriber, HOLD_TABLE); values are bound
                f" SELECT username, domain, password, ha1, ha1b FROM {source}"
                " WHERE username = :u AND domain = :d"
            ),
            params,
        )
        conn.execute(text(f"DELETE FROM {source} WHERE username = :u AND domain = :d"), params)  # nosec B608  # names Kamailio's two fixed tables (subscriber, HOLD_TABLE); values are bound

    @contextlib.contextmanager
    def _transaction(self) -> Iterator[Connection]:
        try:
            with self.engine.begin() as conn:
                yield conn
        except OperationalError as error:
            # Locked database, refused or dropped connection: the next attempt may well succeed.
            raise AdapterError(f"Kamailio database unavailable: {error.orig}", retryable=True) from None
        except DBAPIError as error:
            raise AdapterError(
                f"Kamailio database refused the change: {error.orig}", retryable=False
            ) from None

    @property
    def engine(self) -> Engine:
        if self._engine is None:
            self._engine = self._build_engine()
        return self._engine

    def _build_engine(self) -> Engine:
        if not self.db_url.startswith("sqlite"):
            engine = create_engine(self.db_url, pool_pre_ping=True)
            with engine.begin() as conn:
                conn.execute(text(_HOLD_SCHEMA))
            return engine
        engine = create_engine(self.db_url, connect_args={"timeout": 10})

        @event.listens_for(engine, "connect")
        def _on_connect(dbapi_connection: Any, _record: Any) -> None:
            # Let SQLAlchemy issue BEGIN (savepoints need it). WAL: Kamailio reads while we write
            # (in rollback-journal mode its reads fail with "database is locked" and REGISTER is
            # refused); busy_timeout: our writers wait for each other instead of failing.
            dbapi_connection.isolation_level = None
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA busy_timeout=10000")
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.close()

        @event.listens_for(engine, "begin")
        def _on_begin(conn: Connection) -> None:
            conn.exec_driver_sql("BEGIN IMMEDIATE")

        with engine.begin() as conn:
            # A fresh installation's own registrar database (make run): the schema Kamailio expects.
            for statement in (*_SQLITE_SCHEMA, _HOLD_SCHEMA):
                conn.execute(text(statement))
        return engine
