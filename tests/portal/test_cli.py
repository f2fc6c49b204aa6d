"""The command line that automation and docs rely on."""

from __future__ import annotations

import os
import subprocess
import sys
from importlib.metadata import version
from pathlib import Path

from sqlalchemy import func, select

import portal
from portal.accounts.models import ApiToken, EndUser, Role, User
from portal.accounts.services import authenticate
from portal.accounts.token_services import authenticate_api_token
from portal.db import db
from portal.demo.services import DEMO_CLIENTS
from portal.orders.models import Seat
from tests.conftest import TEST_SECRET_KEY


def test_catalog_seed_is_idempotent(runner):
    first = runner.invoke(args=["catalog", "seed"])
    second = runner.invoke(args=["catalog", "seed"])

    assert first.exit_code == 0, first.output
    assert "created product desktop" in first.output
    assert second.output.strip() == "Catalog already up to date."


def test_catalog_set_price_checks_the_amount(runner):
    runner.invoke(args=["catalog", "seed"])

    bad = runner.invoke(args=["catalog", "set-price", "desktop", "lots"])
    good = runner.invoke(args=["catalog", "set-price", "desktop", "42"])
    unknown = runner.invoke(args=["catalog", "set-price", "nope", "1"])

    assert bad.exit_code == 1 and "is not an amount" in bad.output
    assert good.exit_code == 0 and "$42.00" in good.output
    assert unknown.exit_code == 1 and "No product with the code" in unknown.output


def test_create_admin_with_password_option(runner):
    result = runner.invoke(
        args=["users", "create-admin", "--email", "Nora@MSP.example", "--password", "a strong password"]
    )

    assert result.exit_code == 0, result.output
    user = authenticate("nora@msp.example", "a strong password")
    assert user is not None and user.role is Role.RESELLER_ADMIN


def test_create_admin_prompts_for_the_password(runner):
    result = runner.invoke(
        args=["users", "create-admin", "--email", "ops@msp.example"],
        input="prompted password\nprompted password\n",
    )

    assert result.exit_code == 0, result.output
    assert authenticate("ops@msp.example", "prompted password") is not None


def test_create_admin_refuses_weak_password_and_duplicates(runner):
    weak = runner.invoke(args=["users", "create-admin", "--email", "a@msp.example", "--password", "short"])
    runner.invoke(args=["users", "create-admin", "--email", "b@msp.example", "--password", "long enough pw"])
    duplicate = runner.invoke(
        args=["users", "create-admin", "--email", "b@msp.example", "--password", "long enough pw"]
    )

    assert weak.exit_code == 1 and "at least 12 characters" in weak.output
    assert duplicate.exit_code == 1 and "already exists" in duplicate.output
    assert "Traceback" not in weak.output + duplicate.output


def test_token_is_printed_alone_on_the_last_line_and_works(runner, make_client):
    make_client("acme")

    result = runner.invoke(
        args=["tokens", "create", "--role", "client_admin", "--client", "acme", "--name", "RMM"]
    )

    assert result.exit_code == 0, result.output
    raw = result.output.rstrip("\n").splitlines()[-1]
    token = authenticate_api_token(raw)
    assert token is not None
    assert (token.role, token.client.ref, token.name) == (Role.CLIENT_ADMIN, "acme", "RMM")


def test_token_errors_are_plain_messages(runner):
    no_client = runner.invoke(args=["tokens", "create", "--role", "client_user", "--name", "x"])
    unknown = runner.invoke(
        args=["tokens", "create", "--role", "client_user", "--client", "ghost", "--name", "x"]
    )
    bad_role = runner.invoke(args=["tokens", "create", "--role", "god", "--name", "x"])

    assert no_client.exit_code == 1 and "needs the client" in no_client.output
    assert unknown.exit_code == 1 and "No client with the reference “ghost”" in unknown.output
    assert bad_role.exit_code == 2 and "Invalid value for '--role'" in bad_role.output
    assert db.session.scalar(select(func.count(ApiToken.id))) == 0


def test_tokens_list_and_revoke(runner):
    runner.invoke(args=["tokens", "create", "--role", "reseller_admin", "--name", "PSA"])
    token_id = db.session.scalars(select(ApiToken.id)).one()

    listed = runner.invoke(args=["tokens", "list"])
    revoked = runner.invoke(args=["tokens", "revoke", str(token_id)])
    missing = runner.invoke(args=["tokens", "revoke", "999"])

    assert "PSA" in listed.output and "active" in listed.output
    assert revoked.exit_code == 0
    assert missing.exit_code == 1 and "No API token #999" in missing.output


def test_demo_loads_once_and_prints_the_logins(runner):
    first = runner.invoke(args=["demo"])
    counts = _counts()
    second = runner.invoke(args=["demo"])

    assert first.exit_code == 0, first.output
    assert "admin@northwind-it.example" in first.output
    assert "grace@acme.example" in first.output
    assert counts == _counts()
    people = sum(len(spec.people) for spec in DEMO_CLIENTS)
    assert counts["users"] == 4 and counts["seats"] > 0 and counts["end_users"] == people == 11
    assert second.exit_code == 0
    assert authenticate("grace@acme.example", "seatmeter-demo") is not None


def _counts() -> dict[str, int | None]:
    return {
        "users": db.session.scalar(select(func.count(User.id))),
        "end_users": db.session.scalar(select(func.count(EndUser.id))),
        "seats": db.session.scalar(select(func.count(Seat.id))),
    }


def test_client_user_token_belongs_to_the_named_user(runner, make_client, make_user):
    acme = make_client("acme")
    pat = make_user(Role.CLIENT_USER, acme, email="pat@acme.example")
    make_client("other")

    result = runner.invoke(
        args=[
            "tokens",
            "create",
            "--role",
            "client_user",
            "--client",
            "acme",
            "--user",
            "PAT@acme.example",
            "--name",
            "Pat's script",
        ]
    )
    wrong_client = runner.invoke(
        args=[
            "tokens",
            "create",
            "--role",
            "client_user",
            "--client",
            "other",
            "--user",
            "pat@acme.example",
            "--name",
            "x",
        ]
    )

    assert result.exit_code == 0, result.output
    token = authenticate_api_token(result.output.rstrip("\n").splitlines()[-1])
    assert token.created_by_id == pat.id
    assert wrong_client.exit_code == 1
    assert "does not belong to the token's client" in wrong_client.output


def _seatmeter(*args: str, env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    """The installed console script, as an operator runs it (not the test's app)."""
    return subprocess.run(
        [str(Path(sys.executable).parent / "seatmeter"), *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_console_script_runs_the_flask_commands_without_app_option(tmp_path):
    env = {
        **{k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "SECRET_KEY_FILE")},
        "DATABASE_URL": f"sqlite:///{tmp_path / 'seatmeter.sqlite'}",
        "SECRET_KEY": TEST_SECRET_KEY,
    }

    upgraded = _seatmeter("db", "upgrade", env=env, cwd=tmp_path)
    seeded = _seatmeter("catalog", "seed", env=env, cwd=tmp_path)
    helped = _seatmeter("--help", env=env, cwd=tmp_path)

    assert upgraded.returncode == 0, upgraded.stderr
    assert "Database upgraded to head." in upgraded.stdout
    assert seeded.returncode == 0, seeded.stderr
    assert "created product desktop" in seeded.stdout
    assert helped.stdout.startswith("Usage: seatmeter")
    for group in ("billing", "catalog", "db", "trueup", "users"):
        assert f"  {group} " in helped.stdout


def test_console_script_version_is_the_packages(tmp_path):
    result = _seatmeter("--version", env=dict(os.environ), cwd=tmp_path)

    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f"seatmeter {version('seatmeter')}"
    assert portal.__version__ == version("seatmeter")
