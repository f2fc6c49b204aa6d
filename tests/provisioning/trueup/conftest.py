"""True-up tests: the platforms' stand-ins wired into the app, and helpers to run discovery and months.

Each platform fixture points the app's adapter settings at a stand-in (moto's WorkSpaces, the
WorkMail stand-in, a real Kamailio, a real Samba AD DC) and hands the test a raw client of that
stand-in, so drift can be made behind Seatmeter's back exactly as a person at the colo would.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass

import boto3
import ldap3
import pytest
from ldap3.core.exceptions import LDAPEntryAlreadyExistsResult
from sqlalchemy import func, select

from metering.ledger.models import IntervalSource, LedgerInterval
from portal.audit.services import Actor
from portal.db import db
from provisioning.trueup.models import Finding
from provisioning.trueup.platforms import read_platforms
from provisioning.trueup.services import run_discovery
from tests.metering.conftest import month, travel  # noqa: F401  (fixtures)
from tests.standins.aws import DUMMY_KEY_ID, DUMMY_SECRET, make_workspaces_directory

TESTS = Actor.system("tests")
BUNDLE = "wsb-12345678"


def configure(app, **settings) -> None:
    app.config.update(settings)
    app.extensions.pop("seatmeter.adapters", None)  # adapters are rebuilt from the new settings


def only(app, **adapters: str) -> None:
    """Offer only these kinds (others `none`), so a run reads only the platforms under test."""
    configure(app, PROVISIONING_ADAPTERS={"desktop": "none", "mailbox": "none", "voip": "none", **adapters})


@pytest.fixture
def workspaces(app, aws_env):
    directory_id = make_workspaces_directory(aws_env.endpoint_url)
    configure(
        app,
        WORKSPACES_DIRECTORY_ID=directory_id,
        WORKSPACES_BUNDLE_ID=BUNDLE,
        WORKSPACES_ENDPOINT_URL=aws_env.endpoint_url,
    )
    only(app, desktop="workspaces")
    client = boto3.client(
        "workspaces",
        endpoint_url=aws_env.endpoint_url,
        region_name=aws_env.region,
        aws_access_key_id=DUMMY_KEY_ID,
        aws_secret_access_key=DUMMY_SECRET,
    )
    return Platform(client, directory_id)


@pytest.fixture
def workmail_platform(app, workmail):
    configure(
        app,
        WORKMAIL_ORGANIZATION_ID=workmail.organization_id,
        WORKMAIL_MAIL_DOMAIN=workmail.mail_domain,
        WORKMAIL_ENDPOINT_URL=workmail.endpoint_url,
    )
    only(app, mailbox="workmail")
    client = boto3.client(
        "workmail",
        endpoint_url=workmail.endpoint_url,
        region_name=workmail.region,
        aws_access_key_id=DUMMY_KEY_ID,
        aws_secret_access_key=DUMMY_SECRET,
    )
    return Platform(client, workmail.organization_id, workmail.mail_domain)


@pytest.fixture
def sip(app, clean_kamailio):
    configure(app, KAMAILIO_DB_URL=clean_kamailio.db_url, SIP_DOMAIN=clean_kamailio.domain)
    only(app, voip="kamailio")
    return clean_kamailio


@pytest.fixture
def ad(app, clean_directory):
    d = clean_directory
    configure(
        app,
        AD_LDAP_URL=f"ldaps://{d.host}:{d.port}",
        AD_BIND_DN=d.bind_dn,
        AD_BIND_PASSWORD=d.bind_password,
        AD_CLIENTS_OU=d.clients_dn,
        AD_TLS_CA_FILE=str(d.ca_file),
        AD_TLS_SERVER_NAME=d.tls_hostname,
        AD_RDS_GROUP="{ref}-rds-users",
    )
    only(app, desktop="active_directory")
    return d


@dataclass(frozen=True)
class Platform:
    client: object
    ident: str
    mail_domain: str | None = None


def discover(actor: Actor = TESTS):
    """A discovery run as the nightly task makes it (platforms read first, then one commit)."""
    run = run_discovery(actor, read_platforms())
    db.session.commit()
    return run


def findings() -> list[Finding]:
    db.session.expire_all()
    return list(db.session.scalars(select(Finding).order_by(Finding.id)))


def trueup_intervals() -> list[tuple[str | None, object, object]]:
    return [
        (i.user_key, i.start_at, i.stop_at)
        for i in db.session.scalars(
            select(LedgerInterval)
            .where(LedgerInterval.source == IntervalSource.TRUEUP)
            .order_by(LedgerInterval.id)
        )
    ]


def interval_count() -> int:
    return db.session.scalar(select(func.count(LedgerInterval.id))) or 0


def add_ad_user(d, client_ref: str, login: str, upn: str, *, ou_ref: str | None = None) -> str:
    """A user made by hand in the directory (in ``ou_ref``'s OU), enabled, put in a client's RDS group."""
    ou_ref = ou_ref or client_ref
    group = f"CN={client_ref}-rds-users,OU={client_ref},{d.clients_dn}"
    dn = f"CN={login},OU={ou_ref},{d.clients_dn}"
    with d.connect() as conn:
        for ref in {client_ref, ou_ref}:
            _ensure(conn, f"OU={ref},{d.clients_dn}", "organizationalUnit")
        _ensure(conn, group, "group", {"sAMAccountName": f"{client_ref}-rds-users"})
        conn.add(dn, "user", {"sAMAccountName": login, "userPrincipalName": upn})
        conn.extend.microsoft.modify_password(dn, "Desk-top-42!")
        conn.modify(dn, {"userAccountControl": [(ldap3.MODIFY_REPLACE, ["512"])]})
        conn.modify(group, {"member": [(ldap3.MODIFY_ADD, [dn])]})
    return dn


def _ensure(conn, dn: str, object_class: str, attributes: dict | None = None) -> None:
    with contextlib.suppress(LDAPEntryAlreadyExistsResult):
        conn.add(dn, object_class, attributes)
