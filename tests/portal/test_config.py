"""Configuration: safe defaults with nothing set, and clear errors for bad settings."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from portal import ConfigError, create_app
from portal.config import load_config

ROOT = Path(__file__).resolve().parents[2]


def test_nothing_configured_runs_on_sqlite_under_instance(tmp_path):
    config = load_config({}, tmp_path)

    assert config["DATABASE_URL"] == f"sqlite:///{tmp_path / 'seatmeter.sqlite'}"
    assert config["CELERY_BROKER_URL"] == f"sqla+sqlite:///{tmp_path / 'broker.sqlite'}"
    assert config["BILLING_TIMEZONE"] == "UTC"
    assert config["STRIPE_API_KEY"] is None


def test_generated_secret_key_is_private_and_kept(tmp_path):
    first = load_config({}, tmp_path)["SECRET_KEY"]
    second = load_config({}, tmp_path)["SECRET_KEY"]

    key_file = tmp_path / "secret_key"
    assert first == second
    assert len(first) >= 32
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600


@pytest.mark.parametrize(
    ("variable", "value", "says"),
    [
        ("DATABASE_URL", "not a url", "cannot parse"),
        ("DATABASE_URL", "mysql://root@localhost/x", "unsupported database"),
        ("CELERY_BROKER_URL", "kafka://x", "unsupported broker"),
        ("BILLING_TIMEZONE", "Mars/Olympus", "IANA time zone"),
        ("MAIL_PORT", "twenty-five", "whole number"),
        ("MAIL_PORT", "70000", "from 1 to 65535"),
        ("MAIL_USE_TLS", "maybe", "true/false"),
        ("STRIPE_API_KEY", "pk_test_123", "secret or restricted key"),
        ("STRIPE_API_BASE", "localhost:12111", "http:// or https://"),
        ("AWS_ENDPOINT_URL", "ftp://moto", "http:// or https://"),
        ("SECRET_KEY", "short", "at least 16"),
        ("BILLING_RETRY_DAYS", "3, five", "separated by commas"),
        ("BILLING_RETRY_DAYS", "5,3", "increasing"),
        ("BILLING_RETRY_DAYS", "0,3", "from 1 to 60"),
        ("SIP_SERVER", "sip://pbx.example.com", "a host such as"),
        ("QUICKBOOKS_ENVIRONMENT", "staging", "sandbox or production"),
        ("QUICKBOOKS_BASE_URL", "quickbooks.local", "http:// or https://"),
        # requests-oauthlib would refuse to send a token over it at the first call, not at start-up.
        ("QUICKBOOKS_BASE_URL", "http://127.0.0.1:9000", "OAUTHLIB_INSECURE_TRANSPORT=1"),
        ("CONNECTWISE_URL", "api-na.myconnectwise.net", "http:// or https://"),
        ("CONNECTWISE_PAGE_SIZE", "5000", "from 1 to 1000"),
    ],
)
def test_malformed_setting_names_the_variable(tmp_path, variable, value, says):
    with pytest.raises(ConfigError) as raised:
        load_config({variable: value}, tmp_path)

    assert raised.value.variable == variable
    assert variable in str(raised.value)
    assert says in str(raised.value)


@pytest.mark.parametrize(("value", "days"), [(None, [3, 5, 7]), ("2, 4", [2, 4]), ("none", []), ("NONE", [])])
def test_payment_retry_days_default_to_3_5_7_and_can_be_turned_off(tmp_path, value, days):
    environ = {"BILLING_RETRY_DAYS": value} if value is not None else {}

    assert load_config(environ, tmp_path)["BILLING_RETRY_DAYS"] == days


def test_the_connectwise_private_key_can_come_from_a_file(tmp_path):
    secret = tmp_path / "cw-private"
    secret.write_text("s3cr3t-private\n")

    config = load_config({"CONNECTWISE_PRIVATE_KEY_FILE": str(secret)}, tmp_path)

    assert config["CONNECTWISE_PRIVATE_KEY"] == "s3cr3t-private"
    assert config["CONNECTWISE_URL"] is None


def test_mail_username_without_server_is_refused(tmp_path):
    with pytest.raises(ConfigError, match="MAIL_SERVER"):
        load_config({"MAIL_USERNAME": "billing"}, tmp_path)


def test_plain_postgresql_url_uses_the_installed_driver(tmp_path):
    config = load_config(
        {"DATABASE_URL": "postgresql://postgres@127.0.0.1/seatmeter", "SECRET_KEY": "k" * 32}, tmp_path
    )

    assert config["DATABASE_URL"].startswith("postgresql+psycopg://")


def test_cookies_are_secure_when_served_over_https(tmp_path):
    http = load_config({}, tmp_path)
    https = load_config({"PUBLIC_URL": "https://portal.msp.example"}, tmp_path)

    assert http["SESSION_COOKIE_SECURE"] is False
    assert https["SESSION_COOKIE_SECURE"] is True
    assert https["REMEMBER_COOKIE_SECURE"] is True
    for config in (http, https):
        assert config["SESSION_COOKIE_HTTPONLY"] is True
        assert config["SESSION_COOKIE_SAMESITE"] == "Lax"


def test_create_app_validates_overrides_like_the_environment(tmp_path):
    with pytest.raises(ConfigError, match="BILLING_TIMEZONE"):
        create_app(
            {"BILLING_TIMEZONE": "Nowhere/Special", "INSTANCE_PATH": str(tmp_path), "SECRET_KEY": "k" * 32}
        )


def test_operator_sees_one_clear_line_not_a_traceback(tmp_path):
    env = {**os.environ, "DATABASE_URL": "nonsense", "SECRET_KEY": "x" * 32}
    result = subprocess.run(
        [sys.executable, "-m", "flask", "--app", "wsgi", "db", "current"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )

    assert result.returncode == 1
    assert "Seatmeter configuration error: DATABASE_URL" in result.stderr
    assert "Traceback" not in result.stderr


def test_rate_limits_have_defaults_and_are_validated(tmp_path):
    config = load_config({}, tmp_path)
    assert config["RATELIMIT_ENABLED"] is True
    assert config["RATELIMIT_STORAGE_URI"] == "memory://"
    assert config["RATELIMIT_LOGIN"] == "20/minute;200/hour"
    assert config["RATELIMIT_EMAIL"] == "5/hour"
    assert config["RATELIMIT_EMAIL_ACCOUNT"] == "3/hour"
    assert config["RATELIMIT_API"] == "600/minute"

    changed = load_config(
        {"RATELIMIT_LOGIN": "5 per minute", "RATELIMIT_STORAGE_URI": "redis://r:6379/1"}, tmp_path
    )
    assert changed["RATELIMIT_LOGIN"] == "5 per minute"
    assert changed["RATELIMIT_STORAGE_URI"] == "redis://r:6379/1"

    for variable, value, says in (
        ("RATELIMIT_LOGIN", "lots", "20/minute;200/hour"),
        ("RATELIMIT_API", "600/fortnight", "20/minute;200/hour"),
        ("RATELIMIT_STORAGE_URI", "mysql://x", "redis://"),
        ("RATELIMIT_ENABLED", "maybe", "true/false"),
    ):
        with pytest.raises(ConfigError) as raised:
            load_config({variable: value}, tmp_path)
        assert raised.value.variable == variable
        assert says in str(raised.value)


def test_two_step_login_is_required_of_the_resellers_own_roles_unless_set_otherwise(tmp_path):
    assert load_config({}, tmp_path)["TWO_FACTOR_REQUIRED_ROLES"] == {"reseller_admin", "reseller_staff"}
    everyone = load_config(
        {"TWO_FACTOR_REQUIRED_ROLES": "reseller_admin, reseller_staff,client_admin,client_user"}, tmp_path
    )
    assert len(everyone["TWO_FACTOR_REQUIRED_ROLES"]) == 4
    assert load_config({"TWO_FACTOR_REQUIRED_ROLES": "none"}, tmp_path)["TWO_FACTOR_REQUIRED_ROLES"] == set()

    with pytest.raises(ConfigError) as raised:
        load_config({"TWO_FACTOR_REQUIRED_ROLES": "reseller_admin,admins"}, tmp_path)
    assert "unknown role admins" in str(raised.value)


def test_secret_key_is_required_with_a_shared_database(tmp_path):
    with pytest.raises(ConfigError) as raised:
        load_config({"DATABASE_URL": "postgresql://postgres@db.internal/seatmeter"}, tmp_path)

    assert raised.value.variable == "SECRET_KEY"
    assert "must be set" in str(raised.value)
    assert "DATABASE_URL is not SQLite" in str(raised.value)
    assert not (tmp_path / "secret_key").exists(), "no per-host key may be generated"


def test_secret_key_set_with_a_shared_database_is_used(tmp_path):
    config = load_config(
        {"DATABASE_URL": "postgresql://postgres@db.internal/seatmeter", "SECRET_KEY": "k" * 32}, tmp_path
    )

    assert config["SECRET_KEY"] == "k" * 32


def test_missing_secret_key_stops_the_command_line_with_one_line(tmp_path):
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in ("SECRET_KEY", "SECRET_KEY_FILE", "DATABASE_URL")
    }
    env["DATABASE_URL"] = "postgresql+psycopg://postgres@127.0.0.1:1/nowhere"
    result = subprocess.run(
        [str(Path(sys.executable).parent / "seatmeter"), "db", "current"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )

    assert result.returncode == 1
    assert "Seatmeter configuration error: SECRET_KEY: must be set" in result.stderr
    assert "Traceback" not in result.stderr


def test_secrets_can_come_from_files(tmp_path):
    secrets_dir = tmp_path / "run-secrets"
    secrets_dir.mkdir()
    (secrets_dir / "secret_key").write_text("from-a-file-" + "s" * 20 + "\n")
    (secrets_dir / "stripe").write_text("sk_test_fromfile123\n")
    (secrets_dir / "database").write_text("postgresql://seatmeter:p%40ss@db.internal/seatmeter")

    config = load_config(
        {
            "SECRET_KEY_FILE": str(secrets_dir / "secret_key"),
            "STRIPE_API_KEY_FILE": str(secrets_dir / "stripe"),
            "DATABASE_URL_FILE": str(secrets_dir / "database"),
        },
        tmp_path,
    )

    # The file's trailing newline (echo, most editors) is not part of the secret.
    assert config["SECRET_KEY"] == "from-a-file-" + "s" * 20
    assert config["STRIPE_API_KEY"] == "sk_test_fromfile123"
    assert config["DATABASE_URL"] == "postgresql+psycopg://seatmeter:p%40ss@db.internal/seatmeter"


def test_a_secret_file_is_validated_like_the_variable(tmp_path):
    key_file = tmp_path / "stripe"
    key_file.write_text("pk_live_publishable\n")

    with pytest.raises(ConfigError) as raised:
        load_config({"STRIPE_API_KEY_FILE": str(key_file)}, tmp_path)

    assert raised.value.variable == "STRIPE_API_KEY"
    assert "secret or restricted key" in str(raised.value)


def test_unreadable_secret_file_names_the_file_setting(tmp_path):
    with pytest.raises(ConfigError) as raised:
        load_config({"SECRET_KEY_FILE": str(tmp_path / "missing")}, tmp_path)

    assert raised.value.variable == "SECRET_KEY_FILE"
    assert "cannot read" in str(raised.value)
    assert "missing" in str(raised.value)


def test_a_setting_and_its_file_together_are_refused(tmp_path):
    key_file = tmp_path / "key"
    key_file.write_text("k" * 32)

    with pytest.raises(ConfigError) as raised:
        load_config({"SECRET_KEY": "v" * 32, "SECRET_KEY_FILE": str(key_file)}, tmp_path)

    assert raised.value.variable == "SECRET_KEY_FILE"
    assert "not both" in str(raised.value)


def test_beat_lock_seconds_has_a_default_and_is_validated(tmp_path):
    assert load_config({}, tmp_path)["BEAT_LOCK_SECONDS"] == 60
    assert load_config({"BEAT_LOCK_SECONDS": "10"}, tmp_path)["BEAT_LOCK_SECONDS"] == 10
    with pytest.raises(ConfigError, match="BEAT_LOCK_SECONDS"):
        load_config({"BEAT_LOCK_SECONDS": "1"}, tmp_path)


def test_phones_register_at_the_sip_domain_unless_a_sip_server_is_set(tmp_path):
    assert (
        load_config({"SIP_DOMAIN": "voip.example-msp.com"}, tmp_path)["SIP_SERVER"] == "voip.example-msp.com"
    )
    assert load_config({"SIP_SERVER": "SIP.Example-MSP.com:5080"}, tmp_path)["SIP_SERVER"] == (
        "sip.example-msp.com:5080"
    )
