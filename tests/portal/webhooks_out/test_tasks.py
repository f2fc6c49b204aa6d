"""Events go out once per change, signed, to a real receiver; failures are retried and logged."""

from __future__ import annotations

import logging
from collections import Counter
from datetime import timedelta

from sqlalchemy import select

from metering.billing import lifecycle as invoices
from metering.periods import BillingPeriod
from portal.accounts.models import Role
from portal.db import db, utcnow
from portal.webhooks_out.deliveries import backoff_seconds
from portal.webhooks_out.models import DeliveryStatus, WebhookAttempt, WebhookDelivery, WebhookEndpoint
from portal.webhooks_out.services import EVENT_TYPES, EndpointSettings, create_endpoint, emit, signing_secret
from portal.webhooks_out.tasks import sweep
from provisioning import cancel_seat, resume_client, suspend_client
from provisioning.trueup.platforms import Reading
from provisioning.trueup.services import run_discovery
from tests.metering.seat_steps import step
from tests.portal.webhooks_out.conftest import delivery, run_deliveries
from tests.provisioning.conftest import ACTOR, order


def endpoint_for(receiver_url: str = "http://127.0.0.1:9/hooks", **settings) -> WebhookEndpoint:
    endpoint = create_endpoint(ACTOR, EndpointSettings(url=receiver_url, allow_private=True, **settings))
    db.session.commit()
    return endpoint


def point_at(endpoint: WebhookEndpoint, url: str) -> None:
    endpoint.url = url
    db.session.commit()


def attempts(delivery_id: int) -> list[WebhookAttempt]:
    return list(
        db.session.scalars(
            select(WebhookAttempt)
            .where(WebhookAttempt.delivery_id == delivery_id)
            .order_by(WebhookAttempt.number)
        )
    )


def test_a_failing_receiver_gets_retries_with_the_same_signed_event_and_the_log_shows_them(
    acme, queued, webhook_receiver
):
    endpoint = endpoint_for()
    receiver = webhook_receiver(signing_secret(endpoint), fail_first=2)
    point_at(endpoint, receiver.url)

    suspend_client(ACTOR, acme, "Asked by the owner")
    db.session.commit()
    [(_, [delivery_id])] = queued
    assert run_deliveries(queued) == ["delivered"]

    seen = receiver.received()
    assert [r["status"] for r in seen] == [500, 500, 200]
    assert all(r["verified"] for r in seen)
    assert {r["id"] for r in seen} == {delivery(delivery_id).event.message_id}  # one event, three tries
    assert seen[0]["type"] == "client.suspended"
    assert seen[0]["data"]["client_ref"] == "acme"
    log = attempts(delivery_id)
    assert [(a.number, a.response_code, a.succeeded) for a in log] == [
        (1, 500, False),
        (2, 500, False),
        (3, 200, True),
    ]
    assert log[0].error.startswith("The endpoint answered 500")
    assert delivery(delivery_id).status is DeliveryStatus.DELIVERED
    assert db.session.get(WebhookEndpoint, endpoint.id).failing_since is None


def test_every_change_is_announced_once_whatever_repeats_it(acme, queued, webhook_receiver):
    endpoint = endpoint_for()
    receiver = webhook_receiver(signing_secret(endpoint))
    point_at(endpoint, receiver.url)

    # Seats: one becomes active then is cancelled, one fails.
    first_order = order(acme, "voip")
    voip = first_order.seats[0]
    step(voip)
    cancel_seat(ACTOR, voip)
    db.session.commit()
    step(voip)
    second_order = order(acme, "voip")
    failing = second_order.seats[0]
    step(failing, fails=True)
    # A client suspended twice (the second changes nothing) and resumed.
    suspend_client(ACTOR, acme, "Unpaid")
    db.session.commit()
    suspend_client(ACTOR, acme, "Unpaid")
    db.session.commit()
    resume_client(ACTOR, acme)
    db.session.commit()
    # An invoice finalized, overdue after two failed payments, then paid.
    invoice = invoices.new_draft(acme.id, BillingPeriod(2026, 10))
    now = utcnow()
    invoice.currency, invoice.total_minor = "USD", 12500
    invoice.starts_at, invoice.ends_at, invoice.built_at = now - timedelta(days=30), now, now
    db.session.add(invoice)
    db.session.flush()
    invoices.finalize(invoice, now)
    invoices.mark_overdue(invoice, "Your card was declined.", now)
    invoices.mark_overdue(invoice, "Your card was declined again.", now)
    invoices.mark_paid(invoice, now)
    db.session.commit()

    assert set(run_deliveries(queued)) == {"delivered"}
    seen = receiver.received()
    assert all(r["verified"] and r["status"] == 200 for r in seen)
    assert len({r["id"] for r in seen}) == len(seen)

    def subject(data):
        return data.get("order_id") or data.get("seat_id") or data.get("invoice_id") or data.get("client_ref")

    changes = Counter((r["type"], subject(r["data"])) for r in seen)
    assert changes == {
        ("order.placed", first_order.id): 1,
        ("order.placed", second_order.id): 1,
        ("seat.active", voip.id): 1,
        ("seat.terminated", voip.id): 1,
        ("seat.failed", failing.id): 1,
        ("client.suspended", "acme"): 1,
        ("client.resumed", "acme"): 1,
        ("invoice.finalized", invoice.id): 1,
        ("invoice.overdue", invoice.id): 1,
        ("invoice.paid", invoice.id): 1,
    }
    failed = next(r for r in seen if r["type"] == "seat.failed")
    assert failed["data"]["error"] == "The platform refused the change."
    paid = next(r for r in seen if r["type"] == "invoice.paid")
    assert paid["data"] | {"paid_at": None} == paid["data"] | {
        "number": invoice.number,
        "client_ref": "acme",
        "status": "paid",
        "total_minor": 12500,
        "currency": "USD",
        "paid_at": None,
    }


def test_an_endpoint_gets_only_the_events_it_chose_and_a_rolled_back_change_sends_nothing(acme, queued):
    invoices_only = endpoint_for(event_types=("invoice.paid",))
    everything = endpoint_for()

    suspend_client(ACTOR, acme, "Unpaid")
    db.session.rollback()
    assert queued == []

    suspend_client(ACTOR, acme, "Unpaid")
    db.session.commit()
    endpoints = {delivery(d).endpoint_id for _, [d] in queued}
    assert endpoints == {everything.id}
    assert invoices_only.wants("invoice.paid") and not invoices_only.wants("client.suspended")


def test_nothing_is_recorded_when_no_endpoint_listens(acme, queued):
    endpoint_for().enabled = False
    db.session.commit()
    # invoice.paid: an event no e-mail notice needs either (client.resumed would be kept for one).
    assert emit("invoice.paid", acme, lambda: {"client_ref": acme.ref}) is None
    db.session.commit()
    assert queued == []
    assert db.session.scalars(select(WebhookDelivery)).all() == []


def test_retries_stop_a_day_after_the_first_attempt(acme, queued, webhook_receiver):
    endpoint = endpoint_for()
    receiver = webhook_receiver(signing_secret(endpoint), fail_first=1000)
    point_at(endpoint, receiver.url)
    suspend_client(ACTOR, acme, "Unpaid")
    db.session.commit()
    [(_, [delivery_id])] = queued
    # The retries began almost a day ago: the next one (30 s on) would fall outside the day.
    delivery(delivery_id).retry_from = utcnow() - timedelta(hours=24) + timedelta(seconds=10)
    db.session.commit()

    assert run_deliveries(queued) == ["gave up"]
    assert [r["status"] for r in receiver.received()] == [500]
    assert delivery(delivery_id).status is DeliveryStatus.FAILED


def test_an_endpoint_failing_for_a_day_is_disabled_and_the_admins_are_told(
    acme, queued, webhook_receiver, make_user, caplog
):
    admin = make_user(Role.RESELLER_ADMIN, email="ada@northwind-it.example")
    endpoint = endpoint_for()
    receiver = webhook_receiver(signing_secret(endpoint), fail_first=1000)
    point_at(endpoint, receiver.url)
    endpoint.failing_since = utcnow() - timedelta(days=1, minutes=1)
    db.session.commit()

    suspend_client(ACTOR, acme, "Unpaid")
    db.session.commit()
    with caplog.at_level(logging.INFO, logger="seatmeter.mail"):
        assert run_deliveries(queued) == ["gave up"]

    endpoint = db.session.get(WebhookEndpoint, endpoint.id)
    assert not endpoint.enabled
    assert "Every delivery failed since" in endpoint.disabled_reason
    mail = [r.getMessage() for r in caplog.records if "A webhook endpoint was disabled" in r.getMessage()]
    assert len(mail) == 1 and admin.email in mail[0] and receiver.url in mail[0]

    # Nothing more is recorded for it until it is enabled again.
    resume_client(ACTOR, acme)
    db.session.commit()
    assert queued == []


def test_a_url_that_became_private_is_not_called(app, acme, queued, webhook_receiver):
    app.config["WEBHOOK_RETRY_WINDOW_SECONDS"] = 1  # one attempt, no retry
    endpoint = endpoint_for()
    receiver = webhook_receiver(signing_secret(endpoint))
    point_at(endpoint, receiver.url)
    endpoint.allow_private = False  # e.g. the host's DNS now points at 127.0.0.1
    db.session.commit()
    suspend_client(ACTOR, acme, "Unpaid")
    db.session.commit()
    [(_, [delivery_id])] = queued

    assert run_deliveries(queued) == ["gave up"]
    assert receiver.received() == []
    [first] = attempts(delivery_id)
    assert first.response_code is None and "private address" in first.error


def test_the_openapi_document_describes_every_event_a_receiver_can_get(client):
    webhooks = client.get("/api/v1/openapi.json").get_json()["webhooks"]
    assert set(webhooks) == {*EVENT_TYPES, "webhook.test"}
    body = webhooks["invoice.paid"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    assert body["properties"]["type"] == {"const": "invoice.paid"}
    assert "total_minor" in body["properties"]["data"]["properties"]


def test_a_trueup_finding_is_announced_once_however_often_discovery_sees_it(acme, queued, webhook_receiver):
    endpoint = endpoint_for(event_types=("trueup.finding",))
    receiver = webhook_receiver(signing_secret(endpoint))
    point_at(endpoint, receiver.url)
    voip = order(acme, "voip").seats[0]
    step(voip)
    # The platform lists no account for the active seat: an orphaned seat, in two nightly runs.
    for _ in range(2):
        run_discovery(ACTOR, [Reading(platform="kamailio", kind="voip")])
        db.session.commit()

    run_deliveries(queued)
    [seen] = receiver.received()
    assert seen["verified"] and seen["type"] == "trueup.finding"
    assert seen["data"] | {"finding_id": 0, "first_seen_at": ""} == {
        "finding_id": 0,
        "what": "found",
        "platform": "kamailio",
        "account": voip.external_id,
        "kind": "orphaned",
        "summary": seen["data"]["summary"],
        "client_ref": "acme",
        "product": "voip",
        "seat_id": voip.id,
        "user": None,
        "first_seen_at": "",
    }


def test_a_delivery_whose_job_was_lost_is_sent_by_the_sweep(acme, queued, webhook_receiver):
    endpoint = endpoint_for()
    receiver = webhook_receiver(signing_secret(endpoint))
    point_at(endpoint, receiver.url)
    suspend_client(ACTOR, acme, "Unpaid")
    db.session.commit()
    [(_, [lost])] = queued
    queued.clear()  # the broker was down when the suspension committed
    resume_client(ACTOR, acme)
    db.session.commit()
    [(_, [on_time])] = queued
    queued.clear()

    assert sweep.apply().get()["requeued"] == 0  # neither is overdue yet
    delivery(lost).next_attempt_at = utcnow() - timedelta(minutes=11)
    db.session.commit()
    assert sweep.apply().get()["requeued"] == 1
    db.session.expire_all()
    assert [args for _, args in queued] == [[lost]]

    run_deliveries(queued)
    [seen] = receiver.received()
    assert seen["type"] == "client.suspended" and seen["id"] == delivery(lost).event.message_id
    assert delivery(lost).status is DeliveryStatus.DELIVERED and delivery(lost).next_attempt_at is None
    assert delivery(on_time).status is DeliveryStatus.PENDING


def test_a_redirect_is_not_followed(app, acme, queued, webhook_receiver):
    app.config["WEBHOOK_RETRY_WINDOW_SECONDS"] = 1  # one attempt, no retry
    endpoint = endpoint_for()
    receiver = webhook_receiver(signing_secret(endpoint))
    point_at(endpoint, receiver.url.replace("/hooks", "/redirect"))
    suspend_client(ACTOR, acme, "Unpaid")
    db.session.commit()
    [(_, [delivery_id])] = queued

    assert run_deliveries(queued) == ["gave up"]
    assert [r["status"] for r in receiver.received()] == [307]  # nothing went on to /hooks
    [first] = attempts(delivery_id)
    assert first.response_code == 307 and "redirects are not followed" in first.error


def test_a_secret_sealed_under_another_secret_key_stops_deliveries_with_a_plain_reason(
    app, acme, queued, webhook_receiver
):
    app.config["WEBHOOK_RETRY_WINDOW_SECONDS"] = 1  # one attempt, no retry
    endpoint = endpoint_for()
    receiver = webhook_receiver(signing_secret(endpoint))
    point_at(endpoint, receiver.url)
    app.config["SECRET_KEY"] = "another-secret-key-" + "y" * 32
    suspend_client(ACTOR, acme, "Unpaid")
    db.session.commit()
    [(_, [delivery_id])] = queued

    assert run_deliveries(queued) == ["gave up"]
    assert receiver.received() == []  # nothing unsigned (or signed wrongly) was sent
    [first] = attempts(delivery_id)
    assert "SECRET_KEY changed" in first.error


def test_the_sweep_forgets_settled_events_past_the_retention_but_not_pending_ones(acme, queued):
    endpoint_for()
    suspend_client(ACTOR, acme, "Unpaid")
    db.session.commit()
    resume_client(ACTOR, acme)
    db.session.commit()
    [(_, [settled]), (_, [pending])] = queued
    delivery(settled).status = DeliveryStatus.FAILED
    delivery(settled).event.created_at = utcnow() - timedelta(days=31)
    delivery(pending).event.created_at = utcnow() - timedelta(days=31)
    delivery(pending).next_attempt_at = utcnow()  # not overdue: the sweep leaves it be
    db.session.commit()

    assert sweep.apply().get() == {"requeued": 0, "purged": 1}
    db.session.expire_all()
    assert [d.id for d in db.session.scalars(select(WebhookDelivery))] == [pending]


def test_the_wait_between_attempts_doubles_up_to_the_maximum(app):
    assert [backoff_seconds(n) for n in range(1, 9)] == [30, 60, 120, 240, 480, 960, 1800, 1800]
