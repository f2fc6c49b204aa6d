"""``POST /webhooks/stripe``: Stripe-signed events (no session, no CSRF: the signature is the proof)."""

from __future__ import annotations

import json
import time

import stripe
from flask import Blueprint, current_app, jsonify, request
from sqlalchemy.exc import IntegrityError
from werkzeug.wrappers import Response

from metering.webhooks.services import apply_stripe_event
from portal.auth.access import public
from portal.transactions import web_transaction

bp = Blueprint("stripe_webhooks", __name__)

# How far an event's signing time may be from our clock, either way. Stripe's library only bounds
# the past; an event dated in the future would stay replayable until that date comes.
TOLERANCE_SECONDS = 300


def _signed_at(header: str) -> int | None:
    """The ``t=`` of a Stripe-Signature header (the signing time, Unix seconds), if it has one."""
    for item in header.split(","):
        name, _, value = item.strip().partition("=")
        if name == "t" and value.isdigit():
            return int(value)
    return None


def _answer(status: int, **body: object) -> tuple[Response, int]:
    return jsonify(body), status


@bp.route("/webhooks/stripe", methods=["POST"])
# Stripe proves itself with the signature the view checks, not with a session or a token.
@public
def stripe_webhook() -> tuple[Response, int]:
    secret = current_app.config.get("STRIPE_WEBHOOK_SECRET")
    if not secret:
        current_app.logger.error("Stripe webhook received but STRIPE_WEBHOOK_SECRET is not set")
        return _answer(503, error="webhooks are not configured")
    payload = request.get_data(as_text=True)
    signature = request.headers.get("Stripe-Signature", "")
    try:
        stripe.Webhook.construct_event(payload, signature, secret, tolerance=TOLERANCE_SECONDS)
        event = json.loads(payload)
    except stripe.SignatureVerificationError:
        return _answer(400, error="bad signature")
    except ValueError:
        return _answer(400, error="not a Stripe event")
    signed_at = _signed_at(signature)
    if signed_at is None or signed_at > time.time() + TOLERANCE_SECONDS:
        return _answer(400, error="signed more than 5 minutes in the future")
    if not isinstance(event, dict):
        return _answer(400, error="not a Stripe event")
    try:
        with web_transaction(renders=()):
            result = apply_stripe_event(event)
    except IntegrityError:
        # The same event, delivered twice at once: the other delivery applied it (ours is rolled back).
        result = "duplicate"
    except stripe.StripeError as error:
        # Looking something up in Stripe failed; nothing was kept, so Stripe's redelivery applies it.
        current_app.logger.warning("Stripe event not applied yet (%s): %s", event.get("type"), error)
        return _answer(503, error="Stripe could not be reached; deliver again later")
    return _answer(200, received=True, result=result)
