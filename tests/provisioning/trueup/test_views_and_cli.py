"""The findings page (staff read, administrators settle), the commands, the nightly schedule, settings."""

from __future__ import annotations

import re

import pytest

from portal import create_app
from portal.accounts.models import Role
from portal.catalog.services import get_product
from portal.config import ConfigError, load_config
from portal.db import db
from provisioning.adapters.base import AdapterError
from provisioning.trueup.models import FindingKind, FindingStatus, Settlement, TrueupPolicy
from provisioning.trueup.removal import remove_account_now
from provisioning.trueup.settlements import settle
from tests.conftest import csrf_token_from
from tests.provisioning.trueup.conftest import TESTS, configure, discover, findings


@pytest.fixture
def stray(app, sip, acme):
    """An extension inserted straight into Kamailio's table, found by a run."""
    sip.add_subscriber("1099", "pw", domain=f"acme.{sip.domain}")
    discover()
    (finding,) = findings()
    return finding


@pytest.mark.slow
def test_staff_read_the_evidence_and_cannot_settle(client, login, make_user, stray):
    login(make_user(Role.RESELLER_STAFF))
    page = client.get("/reseller/trueups/").get_data(as_text=True)
    assert f'id="finding-{stray.id}"' in page and "1099@acme.seats.test" in page
    assert '"table": "subscriber"' in page  # the platform's answer, as JSON
    assert "Proposed: <strong>Adopt as a seat</strong>" in page and 'name="settlement"' not in page
    assert (
        client.post(f"/reseller/trueups/{stray.id}/settle", data={"settlement": "dismiss"}).status_code == 403
    )
    assert client.post("/reseller/trueups/run").status_code == 403


def test_clients_cannot_see_it(client, login, make_user, acme):
    login(make_user(Role.CLIENT_ADMIN, acme))
    assert client.get("/reseller/trueups/").status_code == 403


@pytest.mark.slow
def test_admin_dismisses_with_a_reason_and_the_form_is_protected(app, client, login, make_user, stray):
    login(make_user(Role.RESELLER_ADMIN))
    app.config["WTF_CSRF_ENABLED"] = True
    page = client.get("/reseller/trueups/").get_data(as_text=True)
    url = f"/reseller/trueups/{stray.id}/settle"
    assert client.post(url, data={"settlement": "dismiss", "reason": "x"}).status_code == 400  # no token

    token = csrf_token_from(page)
    refused = client.post(url, data={"settlement": "dismiss", "csrf_token": token}, follow_redirects=True)
    assert "Say why it is dismissed" in refused.get_data(as_text=True)
    done = client.post(
        url, data={"settlement": "dismiss", "reason": "Lab phone", "csrf_token": token}, follow_redirects=True
    )
    assert "dismiss — done" in done.get_data(as_text=True)
    (finding,) = findings()
    assert (finding.status, finding.reason) == (FindingStatus.DISMISSED, "Lab phone")
    assert finding.settled_by.startswith("reseller_admin-") and finding.settled_by_user_id is not None
    dismissed = client.get("/reseller/trueups/?show=dismissed").get_data(as_text=True)
    assert "Lab phone" in dismissed
    assert client.post("/reseller/trueups/999999/settle", data={"csrf_token": token}).status_code == 404


def test_policies_and_commitments_from_the_page(client, login, make_user, acme):
    login(make_user(Role.RESELLER_ADMIN))
    client.post("/reseller/trueups/policies", data={"product": "desktop", "auto": ["unbilled", "orphaned"]})
    policy = db.session.get(TrueupPolicy, get_product("desktop").id)
    assert [kind for kind in FindingKind if policy.applies_to(kind)] == [
        FindingKind.UNBILLED,
        FindingKind.ORPHANED,
    ]
    page = client.post(
        "/reseller/trueups/commitments",
        data={"client": "acme", "product": "desktop", "quantity": "10", "starts": "2026-10"},
        follow_redirects=True,
    ).get_data(as_text=True)
    assert "month close bills at least" in page and "<td>2026-10</td>" in page
    bad = client.post(
        "/reseller/trueups/commitments",
        data={"client": "acme", "product": "desktop", "quantity": "ten", "starts": "2026-10"},
        follow_redirects=True,
    ).get_data(as_text=True)
    assert "whole number" in bad
    assert 'value="unbilled" form="policy-form-desktop"' in page


def test_run_now_queues_the_run(client, login, make_user, catalog, app, monkeypatch):
    sent = []
    monkeypatch.setattr(app.extensions["celery"], "send_task", lambda name, **kw: sent.append(name))
    login(make_user(Role.RESELLER_ADMIN))
    assert client.post("/reseller/trueups/run").status_code == 302
    assert sent == ["trueup.run"]


@pytest.mark.slow
def test_commands(runner, stray):
    result = runner.invoke(args=["trueup", "run"])
    assert result.exit_code == 0, result.output
    assert (
        "Read kamailio (1 accounts)." in result.output
        and "0 new" in result.output
        and "1 open" in result.output
    )
    listed = runner.invoke(args=["trueup", "list"]).output
    assert f"#{stray.id} unbilled kamailio 1099@acme.seats.test [acme] (open, proposed: adopt)" in listed
    refused = runner.invoke(args=["trueup", "settle", str(stray.id), "adopt"])
    assert refused.exit_code == 1 and "Choose who" in refused.output  # nobody has extension 1099
    removed = runner.invoke(args=["trueup", "settle", str(stray.id), "enforce"])
    assert removed.exit_code == 0, removed.output
    db.session.expire_all()
    assert stray.settlement is Settlement.ENFORCE

    assert runner.invoke(args=["trueup", "policy", "voip", "--auto", "orphaned"]).exit_code == 0
    assert runner.invoke(args=["trueup", "policies"]).output == "voip: orphaned\n"
    made = runner.invoke(args=["trueup", "commit", "acme", "voip", "5", "--from", "2026-10"])
    number = re.fullmatch(
        r"Commitment #(\d+): acme commits to 5 voip from 2026-10 with no end\.\n", made.output
    )
    assert number, made.output
    ended = runner.invoke(args=["trueup", "end-commitment", number.group(1), "--last", "2026-12"])
    assert ended.output.endswith("to 2026-12.\n")
    assert (
        "acme commits to 5 voip from 2026-10 to 2026-12"
        in runner.invoke(args=["trueup", "commitments"]).output
    )
    bad = runner.invoke(args=["trueup", "commit", "acme", "voip", "5", "--from", "October"])
    assert bad.exit_code == 1 and "YYYY-MM" in bad.output


def test_the_run_is_scheduled_nightly(app):
    celery = app.extensions["celery"]
    entry = celery.conf.beat_schedule["trueup-nightly"]
    assert entry["task"] == "trueup.run" and entry["schedule"].hour == {2}
    celery.loader.import_default_modules()
    assert "trueup.run" in celery.tasks and "trueup.remove_account" in celery.tasks


def test_directory_settings(tmp_path):
    base = {"SECRET_KEY": "x" * 32}
    config = load_config(
        {
            **base,
            "PROVISIONING_ADAPTERS": "desktop=active_directory",
            "AD_LDAP_URL": "ldaps://dc1.corp.example:636",
            "AD_CLIENTS_OU": "OU=Clients,DC=corp,DC=example",
            "TRUEUP_HOUR": "4",
        },
        tmp_path,
    )
    assert config["PROVISIONING_ADAPTERS"]["desktop"] == "active_directory"
    assert (config["AD_LDAP_URL"], config["AD_RDS_GROUP"], config["TRUEUP_HOUR"]) == (
        "ldaps://dc1.corp.example:636",
        "{ref}-rds-users",
        4,
    )
    for name, value in (
        ("AD_LDAP_URL", "ldap://dc1.corp.example"),
        ("AD_CLIENTS_OU", "OU=Clients"),
        ("AD_TLS_CA_FILE", str(tmp_path / "missing.pem")),
        ("AD_RDS_GROUP", "rds-users"),
        ("TRUEUP_HOUR", "25"),
    ):
        with pytest.raises(ConfigError) as caught:
            load_config({**base, name: value}, tmp_path)
        assert caught.value.variable == name
    assert create_app({"SECRET_KEY": "x" * 32, "INSTANCE_PATH": str(tmp_path), "TRUEUP_HOUR": "3"})


@pytest.mark.slow
def test_a_removal_the_platform_refuses_opens_the_finding_again(
    app, client, login, make_user, sip, stray, tmp_path
):
    settle(TESTS, stray, Settlement.ENFORCE)
    db.session.commit()
    configure(
        app, KAMAILIO_DB_URL=f"sqlite:///{tmp_path}/gone/kamailio.sqlite"
    )  # the registrar's database is away
    with pytest.raises(AdapterError):
        remove_account_now(stray.id, give_up=False)  # the task tries again later
    assert remove_account_now(stray.id, give_up=True).startswith("failed: Kamailio database unavailable")
    (finding,) = findings()
    assert finding.status is FindingStatus.OPEN and "unavailable" in finding.action_error

    configure(app, KAMAILIO_DB_URL=sip.db_url)
    discover()
    login(make_user(Role.RESELLER_STAFF))
    assert "The platform refused: Kamailio database unavailable" in client.get("/reseller/trueups/").get_data(
        as_text=True
    )
    settle(TESTS, finding, Settlement.ENFORCE)
    db.session.commit()
    assert remove_account_now(finding.id) == "removed"
    assert discover().summary["accounts"] == 0
