"""The console's webhook pages: add, edit, disable, test and redeliver (reseller admins only)."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import select

from portal.accounts.models import Role
from portal.db import db
from portal.webhooks_out.models import WebhookEndpoint
from portal.webhooks_out.services import signing_secret
from tests.portal.webhooks_out.conftest import run_deliveries

PAGE = "/reseller/webhooks/"


@pytest.fixture
def admin(make_user, login):
    user = make_user(Role.RESELLER_ADMIN, email="ada@northwind-it.example")
    login(user)
    return user


def text_of(page: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", page))


def only_endpoint() -> WebhookEndpoint:
    db.session.expire_all()
    [endpoint] = db.session.scalars(select(WebhookEndpoint)).all()
    return endpoint


def test_a_url_pointing_at_127_0_0_1_is_refused_unless_private_targets_are_allowed(client, admin):
    refused = client.post(PAGE, data={"url": "http://127.0.0.1:8080/hooks"})
    assert refused.status_code == 422
    assert "loopback, link-local or private address (127.0.0.1)" in text_of(refused.get_data(as_text=True))
    assert db.session.scalars(select(WebhookEndpoint)).all() == []

    added = client.post(PAGE, data={"url": "http://127.0.0.1:8080/hooks", "allow_private": "y"})
    assert added.status_code == 302
    endpoint = only_endpoint()
    assert endpoint.allow_private and endpoint.enabled
    page = client.get(added.headers["Location"]).get_data(as_text=True)
    assert signing_secret(endpoint) in page and signing_secret(endpoint).startswith("whsec_")
    assert signing_secret(endpoint) not in endpoint.sealed_secret


def test_nonsense_in_the_form_is_a_plain_message_never_a_500(client, admin):
    for url in ("", "not a url", "ftp://93.184.215.14/", "http://[::1", "https://" + "a" * 3000):
        answer = client.post(PAGE, data={"url": url, "event_types": ["seat.active"]})
        assert answer.status_code == 422, url
    answer = client.post(
        PAGE, data={"url": "http://10.0.0.1/", "event_types": ["no.such"], "allow_private": "y"}
    )
    assert answer.status_code == 422
    assert "not a valid choice" in answer.get_data(as_text=True).lower()


def test_staff_and_clients_cannot_see_or_change_webhooks(client, make_user, login, make_client):
    login(make_user(Role.RESELLER_STAFF))
    assert client.get(PAGE).status_code == 403
    assert client.post(PAGE, data={"url": "http://127.0.0.1/", "allow_private": "y"}).status_code == 403
    assert "Webhooks" not in client.get("/reseller/").get_data(as_text=True)


def test_send_test_event_reaches_the_receiver_and_the_log_and_redeliver_sends_it_again(
    client, admin, queued, webhook_receiver
):
    client.post(PAGE, data={"url": "http://127.0.0.1:9/hooks", "allow_private": "y"})
    endpoint = only_endpoint()
    receiver = webhook_receiver(signing_secret(endpoint), fail_first=1)
    client.post(
        f"{PAGE}{endpoint.id}",
        data={"url": receiver.url, "allow_private": "y", "description": "Our PSA"},
    )
    assert only_endpoint().url == receiver.url

    sent = client.post(f"{PAGE}{endpoint.id}/test", follow_redirects=True)
    assert "A test event is on its way" in sent.get_data(as_text=True)
    run_deliveries(queued)
    [first, second] = receiver.received()
    assert (
        first["type"] == "webhook.test"
        and first["verified"]
        and (first["status"], second["status"]) == (500, 200)
    )

    page = text_of(client.get(f"{PAGE}{endpoint.id}").get_data(as_text=True))
    assert "HTTP 500" in page and "HTTP 200" in page and "delivered" in page
    delivery_id = int(
        re.search(r'id="delivery-(\d+)"', client.get(f"{PAGE}{endpoint.id}").get_data(as_text=True))[1]
    )

    again = client.post(f"{PAGE}{endpoint.id}/deliveries/{delivery_id}/redeliver", follow_redirects=True)
    assert "sent again" in again.get_data(as_text=True)
    run_deliveries(queued)
    seen = receiver.received()
    assert len(seen) == 3 and seen[2]["id"] == first["id"] and seen[2]["status"] == 200


def test_a_disabled_endpoint_gets_nothing_and_the_console_says_why(client, admin, queued, make_client):
    client.post(PAGE, data={"url": "http://127.0.0.1:9/hooks", "allow_private": "y"})
    endpoint = only_endpoint()
    page = client.post(f"{PAGE}{endpoint.id}/disable", follow_redirects=True).get_data(as_text=True)
    assert "The endpoint is disabled" in page
    assert not only_endpoint().enabled
    answer = client.post(f"{PAGE}{endpoint.id}/test", follow_redirects=True)
    assert "enable it before sending a test event" in answer.get_data(as_text=True)
    assert queued == []
    client.post(f"{PAGE}{endpoint.id}/enable")
    assert only_endpoint().enabled


def test_the_console_shows_a_banner_for_an_endpoint_the_failures_turned_off(client, admin):
    client.post(PAGE, data={"url": "http://127.0.0.1:9/hooks", "allow_private": "y"})
    endpoint = only_endpoint()
    endpoint.enabled = False
    endpoint.failing_since = endpoint.created_at
    endpoint.disabled_reason = "Every delivery failed since yesterday."
    db.session.commit()
    home = text_of(client.get("/reseller/").get_data(as_text=True))
    assert "Webhooks to http://127.0.0.1:9/hooks are switched off after a day of failed deliveries" in home


def test_another_number_is_a_404(client, admin):
    assert client.get(f"{PAGE}999").status_code == 404
    assert client.post(f"{PAGE}999/test").status_code == 404
