"""The Kamailio adapter against a real registrar: a provisioned seat registers, a suspended one not."""

from __future__ import annotations

import pytest

from provisioning.adapters.base import AccountState, AdapterError, FoundAccount, SeatRequest
from provisioning.adapters.kamailio import KamailioAdapter
from sandbox import sip_client

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


# -- what true-ups read --------------------------------------------------------------------------------


def test_discover_names_the_client_by_the_sip_domain(adapter, clean_kamailio):
    adapter.create(request(3, "acme"))
    adapter.suspend(request(3, "acme"))
    clean_kamailio.add_subscriber("2450", "Hand-Made-Pass-1", domain="bright.seats.test")
    try:
        found = {f.account.external_id: f for f in adapter.discover()}
    finally:
        adapter.terminate(request(3, "acme"))  # the stand-in resets only the subscriber table

    ours, by_hand = found["1003@acme.seats.test"], found["2450@bright.seats.test"]
    assert (ours.client_ref, ours.named_by, ours.extension, ours.account.seat_id) == (
        "acme",
        "the SIP domain",
        "1003",
        3,
    )
    assert ours.evidence["table"] == "suspended (held aside)" and ours.evidence["domain"] == "acme.seats.test"
    assert (by_hand.client_ref, by_hand.extension, by_hand.evidence["table"]) == (
        "bright",
        "2450",
        "subscriber",
    )
    assert (by_hand.person, by_hand.account_key, by_hand.sign_in_name) == (None, None, None)
    assert all("secret" not in f.evidence for f in found.values())


def test_only_the_extensions_it_names_are_removed(adapter):
    assert adapter.account_name("alice@acme.example") is None  # an extension belongs to its seat
    named = FoundAccount("1003@acme.seats.test", seat_id=3, client_ref="acme")
    assert adapter.removal_problem(named) is None
    assert adapter.extension_of(named) == "1003"
    for by_hand in (
        FoundAccount("2450@acme.seats.test", seat_id=1450, client_ref=None),
        FoundAccount("2450@acme.seats.test", seat_id=None, client_ref="acme"),
        FoundAccount("1004@acme.seats.test", seat_id=3, client_ref="acme"),
    ):
        assert "remove this one on the registrar" in adapter.removal_problem(by_hand)


def test_a_reset_password_replaces_the_old_one_on_the_registrar(adapter, clean_kamailio):
    account = adapter.create(request())
    old = account.secret

    reset = adapter.reset_password(request())

    assert reset.external_id == account.external_id and reset.state is AccountState.ENABLED
    assert reset.secret and reset.secret != old
    assert register(clean_kamailio, account, old) == 401
    assert register(clean_kamailio, account, reset.secret) == 200
    assert adapter.create(request()).secret == reset.secret  # a repeated create hands back the new one


def test_a_suspended_or_missing_extension_gets_no_new_password(adapter, clean_kamailio):
    with pytest.raises(AdapterError) as missing:
        adapter.reset_password(request())
    account = adapter.create(request())
    adapter.suspend(request())
    with pytest.raises(AdapterError) as suspended:
        adapter.reset_password(request())

    assert not missing.value.retryable and not suspended.value.retryable
    adapter.resume(request())
    assert register(clean_kamailio, account, account.secret) == 200  # the held row kept its password
