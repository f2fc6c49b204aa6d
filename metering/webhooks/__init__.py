"""Stripe's webhooks: payment outcomes reported by Stripe."""
