"""Billing settings read from the application's configuration (loaded once by ``create_app``)."""

from __future__ import annotations

from datetime import timedelta
from zoneinfo import ZoneInfo

from flask import current_app

DEFAULT_GRACE_DAYS = 14
DEFAULT_RETRY_DAYS = (3, 5, 7)


def billing_timezone() -> ZoneInfo:
    """The IANA zone in which billing months are cut (``BILLING_TIMEZONE``, default UTC)."""
    return ZoneInfo(current_app.config.get("BILLING_TIMEZONE") or "UTC")


def dunning_grace_period() -> timedelta:
    """How long an overdue invoice may stay unpaid before the client's seats are suspended."""
    return timedelta(days=int(current_app.config.get("BILLING_GRACE_DAYS") or DEFAULT_GRACE_DAYS))


def payment_retry_days() -> tuple[int, ...]:
    """Days after an invoice's first failed payment on which it is charged again (BILLING_RETRY_DAYS)."""
    days = current_app.config.get("BILLING_RETRY_DAYS")
    return DEFAULT_RETRY_DAYS if days is None else tuple(days)
