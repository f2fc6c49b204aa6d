"""The ConnectWise PSA stand-in driven by the product's adapter: auth, conditions, paging, errors, 429."""

from __future__ import annotations

import pytest

from metering.psa.base import PsaError
from metering.psa.connectwise import ConnectWise, ConnectWiseSettings
from tests.standins.connectwise import CLIENT_ID, COMPANY, PRIVATE_KEY, PUBLIC_KEY, ConnectWiseServer


def _adapter(server: ConnectWiseServer, page_size: int = 1000, **changes: str) -> ConnectWise:
    values = {
        "url": server.url,
        "company_id": COMPANY,
        "public_key": PUBLIC_KEY,
        "private_key": PRIVATE_KEY,
        "client_id": CLIENT_ID,
    } | changes
    return ConnectWise(ConnectWiseSettings(page_size=page_size, **values))


@pytest.fixture
def agreement(connectwise: ConnectWiseServer) -> tuple[int, list[int]]:
    seeded = connectwise.seed(companies=[{"identifier": "AcmeLaw", "name": "Acme Law LLP"}])
    agreement_id = connectwise.seed(
        agreements=[{"company_id": seeded["companies"][0], "name": "Managed desktops"}]
    )
    items = connectwise.seed(
        catalog=[
            {"identifier": "DESKTOP", "description": "Hosted desktop", "price": 45},
            {"identifier": "MAILBOX", "description": "Hosted Exchange mailbox", "price": 8},
        ]
    )
    return agreement_id["agreements"][0], items["catalog"]


def test_lists_follow_the_link_header_page_by_page(connectwise):
    connectwise.seed(companies=[{"identifier": f"C{n}", "name": f"Company {n}"} for n in range(5)])

    companies = _adapter(connectwise, page_size=2).list_companies()

    assert [company.identifier for company in companies] == ["C0", "C1", "C2", "C3", "C4"]
    assert connectwise.calls()["GET"] == 3  # pages of 2, 2 and 1


def test_additions_are_found_by_item_across_pages(connectwise, agreement):
    agreement_id, (desktop, mailbox) = agreement
    psa = _adapter(connectwise, page_size=2)
    made = [psa.create_addition(agreement_id, desktop, n) for n in (1, 2, 3, 4, 5)]
    psa.create_addition(agreement_id, mailbox, 9)

    found = psa.find_additions(agreement_id, desktop)

    assert [addition.quantity for addition in found] == [1, 2, 3, 4, 5]
    assert [addition.id for addition in found] == [addition.id for addition in made]
    assert psa.find_additions(agreement_id, mailbox)[0].quantity == 9


def test_a_quantity_is_set_with_a_json_patch_and_read_back(connectwise, agreement):
    agreement_id, (desktop, _mailbox) = agreement
    psa = _adapter(connectwise)
    addition = psa.create_addition(agreement_id, desktop, 3)

    psa.set_addition_quantity(agreement_id, addition.id, 7)

    fetched = psa.get_addition(agreement_id, addition.id)
    assert fetched is not None and fetched.quantity == 7
    assert psa.get_addition(agreement_id, 999999) is None


def test_wrong_keys_are_a_permanent_error_in_plain_words(connectwise):
    with pytest.raises(PsaError) as refused:
        _adapter(connectwise, private_key="wrong").list_companies()

    assert not refused.value.retryable
    assert "401" in refused.value.message and "CONNECTWISE_CLIENT_ID" in refused.value.message


def test_a_missing_client_id_is_refused(connectwise):
    with pytest.raises(PsaError) as refused:
        _adapter(connectwise, client_id="").list_companies()

    assert refused.value.status == 401


def test_a_429_is_retryable_and_carries_retry_after(connectwise):
    connectwise.fail_next("GET", status=429, retry_after=7)

    with pytest.raises(PsaError) as throttled:
        _adapter(connectwise).list_companies()

    assert throttled.value.retryable and throttled.value.retry_after == 7
    assert _adapter(connectwise).list_companies() == []


def test_an_invalid_addition_gets_connectwises_error_body(connectwise, agreement):
    agreement_id, _items = agreement

    with pytest.raises(PsaError) as refused:
        _adapter(connectwise).create_addition(agreement_id, 424242, 1)

    assert not refused.value.retryable
    assert "InvalidObject" in refused.value.message and "product/id" in refused.value.message


def test_an_unknown_agreement_is_not_found(connectwise):
    with pytest.raises(PsaError) as missing:
        _adapter(connectwise).find_additions(31337, 1)

    assert missing.value.status == 404 and not missing.value.retryable
