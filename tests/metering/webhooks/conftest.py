"""The webhook tests' shared fixtures: the app with a webhook secret, and an invoice sent to Stripe."""

from tests.metering.webhooks.test_views import sent_invoice, webhook_app

__all__ = ["sent_invoice", "webhook_app"]
