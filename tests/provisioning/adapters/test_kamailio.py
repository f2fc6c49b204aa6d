"""The Kamailio adapter against a real registrar: a provisioned seat registers, a suspended one not."""

from __future__ import annotations

import pytest

from provisioning.adapters.base import AccountState, AdapterError, SeatRequest
from provisioning.adapters.kamailio import KamailioAdapter
from tests.standins import sip_client

pytestmark = pytest.mark.slow


@pytest.fixture
def adapter(clean_kamailio) -> KamailioAdapter:
    return KamailioAdapter(clean_kamailio.db_url, clean_kamailio.domain)


def request(seat_id: int = 3, client_ref: str = "acme") -> SeatRequest:
    return SeatRequest(seat_id, client_ref, "voip", f"seatmeter-seat-{seat_id}-create-r1")


def register(k, account, password) -> int:
    username, domain = account.external_id.split("@")
    return sip_client.register(k.host, k.port, username, domain, password)


def test_lifecycle_on_the_registrar(adapter, clean_kamailio):
    account = adapter.create(request())
    password = account.secret
    assert account.external_id == "1003@acme.seats.test" and password
    assert adapter.create(request()).secret == password  # a repeated create keeps the password
    assert register(clean_kamailio, account, password) == 200
    assert register(clean_kamailio, account, "wrong") == 401

    assert adapter.suspend(request()).state is AccountState.DISABLED
    assert register(clean_kamailio, account, password) == 401
    assert adapter.describe(request()).state is AccountState.DISABLED
    with pytest.raises(AdapterError):
        adapter.create(request())  # suspended is not missing: never a second row

    assert adapter.resume(request()).state is AccountState.ENABLED
    assert register(clean_kamailio, account, password) == 200  # the phone keeps its password

    adapter.terminate(request())
    adapter.terminate(request())
    assert register(clean_kamailio, account, password) == 401
    assert adapter.describe(request()) is None


def test_clients_have_their_own_domains(adapter):
    adapter.create(request(3, "acme"))
    adapter.create(request(4, "bright"))
    assert [(a.external_id, a.seat_id) for a in adapter.list_accounts()] == [
        ("1003@acme.seats.test", 3),
        ("1004@bright.seats.test", 4),
    ]


def test_an_adopted_extension_keeps_its_own_number(adapter, clean_kamailio):
    # A subscriber made by hand at the colo, later adopted as seat #7 by a true-up.
    clean_kamailio.add_subscriber("2450", "Hand-Made-Pass-1", domain="acme.seats.test")
    adopted = SeatRequest(
        7, "acme", "voip", "seatmeter-seat-7-suspend-r2", external_id="2450@acme.seats.test"
    )

    assert adapter.describe(adopted).state is AccountState.ENABLED
    adapter.suspend(adopted)
    assert (
        sip_client.register(
            clean_kamailio.host, clean_kamailio.port, "2450", "acme.seats.test", "Hand-Made-Pass-1"
        )
        == 401
    )
    adapter.resume(adopted)
    assert (
        sip_client.register(
            clean_kamailio.host, clean_kamailio.port, "2450", "acme.seats.test", "Hand-Made-Pass-1"
        )
        == 200
    )
    adapter.terminate(adopted)
    assert adapter.describe(adopted) is None
