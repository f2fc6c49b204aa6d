"""Fixtures shared by the Stripe tests: the app pointed at localstripe, and the client Acme."""

from tests.metering.billing.test_stripe import acme, stripe_app

__all__ = ["acme", "stripe_app"]
