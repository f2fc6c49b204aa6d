"""The adapter registry: platforms found by name, their modules imported only when used."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest

from provisioning.adapters import adapter_named, build_adapter, get_adapter, register
from provisioning.adapters.base import Account, NotConfigured, SeatRequest
from provisioning.adapters.kamailio import KamailioAdapter
from provisioning.adapters.registry import registered, unregister


class EchoAdapter:
    """A made-up fifth platform: registering it is all it takes to build it by name."""

    name = "echo"

    def __init__(self, config: Mapping[str, Any]) -> None:
        self.config = config

    def describe(self, request: SeatRequest) -> Account | None:
        return None


@pytest.fixture
def echo() -> Iterator[None]:
    register("echo", EchoAdapter)  # type: ignore[arg-type]  # only the part of a platform the registry uses
    yield
    unregister("echo")


def test_the_four_platforms_are_registered():
    assert registered() == ["active_directory", "kamailio", "workmail", "workspaces"]


@pytest.mark.parametrize(
    ("name", "kind", "message"),
    [
        (
            "none",
            "desktop",
            "Hosted desktops are not offered on this installation (PROVISIONING_ADAPTERS: desktop=none).",
        ),
        (
            "none",
            "mailbox",
            "Mailboxes are not offered on this installation (PROVISIONING_ADAPTERS: mailbox=none).",
        ),
        (
            "fax",
            "voip",
            "VoIP seats are not offered on this installation (PROVISIONING_ADAPTERS: voip=none).",
        ),
        ("fax", "fax", "fax are not offered on this installation (PROVISIONING_ADAPTERS: fax=none)."),
    ],
)
def test_an_unknown_name_is_not_configured(name, kind, message):
    with pytest.raises(NotConfigured) as caught:
        build_adapter(name, kind, {})
    assert caught.value.message == message and not caught.value.retryable


def test_a_registered_name_builds(echo):
    built = build_adapter("echo", "voip", {"ECHO": "1"})
    assert isinstance(built, EchoAdapter) and built.config == {"ECHO": "1"}
    kamailio = build_adapter("kamailio", "voip", {"KAMAILIO_DB_URL": "sqlite://", "SIP_DOMAIN": "seats.test"})
    assert isinstance(kamailio, KamailioAdapter) and kamailio.domain_for("acme") == "acme.seats.test"


def test_a_platform_registered_under_another_name_is_refused():
    register("voip2", "provisioning.adapters.kamailio:KamailioAdapter")
    try:
        with pytest.raises(RuntimeError, match="calls itself 'kamailio'"):
            build_adapter("voip2", "voip", {"KAMAILIO_DB_URL": "sqlite://", "SIP_DOMAIN": "seats.test"})
    finally:
        unregister("voip2")


def test_cloud_and_directory_libraries_load_only_when_their_platform_is_used():
    script = (
        "import sys\n"
        "from provisioning.adapters import build_adapter\n"
        "import provisioning.trueup\n"
        "assert not {'boto3', 'ldap3'} & set(sys.modules), sorted({'boto3', 'ldap3'} & set(sys.modules))\n"
        "build_adapter('workmail', 'mailbox', {'WORKMAIL_ORGANIZATION_ID': 'm-' + '0' * 32})\n"
        "assert 'boto3' in sys.modules and 'ldap3' not in sys.modules\n"
    )
    root = Path(__file__).resolve().parents[3]
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60, cwd=root
    )
    assert done.returncode == 0, done.stderr


def test_the_app_builds_each_platform_once_and_true_ups_find_it_by_name(app):
    app.config["PROVISIONING_ADAPTERS"] = {**app.config["PROVISIONING_ADAPTERS"], "voip": "kamailio"}
    app.extensions.pop("seatmeter.adapters", None)
    voip = get_adapter("voip")
    assert voip.name == "kamailio" and get_adapter("voip") is voip
    assert adapter_named("kamailio", "voip") is voip  # what a finding of that platform is read with
