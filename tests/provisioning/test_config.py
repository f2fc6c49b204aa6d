"""Provisioning settings: working defaults with nothing configured, one clear line when malformed."""

from __future__ import annotations

import pytest

from portal.config import ConfigError, load_config


def test_defaults_need_nothing(tmp_path):
    config = load_config({}, tmp_path)
    assert config["PROVISIONING_ADAPTERS"] == {
        "desktop": "workspaces",
        "mailbox": "workmail",
        "voip": "kamailio",
    }
    assert config["KAMAILIO_DB_URL"] == f"sqlite:///{tmp_path / 'kamailio.sqlite'}"
    assert config["WORKSPACES_DIRECTORY_ID"] is None and config["WORKMAIL_ORGANIZATION_ID"] is None
    assert (config["PROVISIONING_SWEEP_INTERVAL"], config["PROVISIONING_SWEEP_SECONDS"]) == (60, 300)
    assert config["PROVISIONING_QUEUE"] == "seatmeter"


def test_settings_are_parsed(tmp_path):
    config = load_config(
        {
            "PROVISIONING_ADAPTERS": "desktop=none, voip=kamailio",
            "WORKSPACES_DIRECTORY_ID": "d-906732325d",
            "WORKSPACES_BUNDLE_ID": "wsb-bh8rsxt14",
            "WORKMAIL_ORGANIZATION_ID": "m-" + "a" * 32,
            "KAMAILIO_DB_URL": "postgresql://kamailio@db.colo/kamailio",
            "SIP_DOMAIN": "voip.example-msp.com",
            "PROVISIONING_LEASE_SECONDS": "60",
        },
        tmp_path,
    )
    assert config["PROVISIONING_ADAPTERS"]["desktop"] == "none"
    assert config["KAMAILIO_DB_URL"] == "postgresql+psycopg://kamailio@db.colo/kamailio"
    assert config["PROVISIONING_LEASE_SECONDS"] == 60


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("PROVISIONING_ADAPTERS", "desktop=citrix"),
        ("PROVISIONING_ADAPTERS", "fax=kamailio"),
        ("WORKSPACES_DIRECTORY_ID", "corp.example.com"),
        ("WORKMAIL_ORGANIZATION_ID", "m-123"),
        ("KAMAILIO_DB_URL", "mysql://kamailio@db/kamailio"),
        ("SIP_DOMAIN", "not a domain"),
        ("PROVISIONING_SWEEP_SECONDS", "0"),
        ("PROVISIONING_QUEUE", "two words"),
        ("WORKMAIL_ENDPOINT_URL", "ftp://x"),
    ],
)
def test_malformed_settings_name_the_variable(tmp_path, name, value):
    with pytest.raises(ConfigError) as caught:
        load_config({name: value}, tmp_path)
    assert caught.value.variable == name
