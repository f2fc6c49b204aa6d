"""Imports every feature's models so that ``Base.metadata`` describes the whole schema.

Alembic's env.py and the application factory import this module; feature code imports the
feature modules directly.
"""

from metering.billing.models import (
    BillingAccount,
    BillingPeriodState,
    Invoice,
    InvoiceLine,
    StripeEvent,
)
from metering.commitments.models import Commitment
from metering.ledger.models import LedgerInterval
from metering.spla.models import LicensedHost, SplaSubmission
from metering.usage.models import UsageEvent
from portal.accounts.models import ApiToken, Client, EndUser, FailedLogin, OneTimeToken, Reseller, User
from portal.api.models import IdempotencyKey
from portal.audit.models import AuditEvent
from portal.catalog.models import LicenceSku, Product, product_licences
from portal.db import Base
from portal.orders.models import Order, Seat
from provisioning.models import ProvisioningAttempt, SeatWork
from provisioning.trueup.models import Finding, TrueupPolicy, TrueupRun

__all__ = [
    "ApiToken",
    "AuditEvent",
    "Base",
    "BillingAccount",
    "BillingPeriodState",
    "Client",
    "Commitment",
    "EndUser",
    "FailedLogin",
    "Finding",
    "IdempotencyKey",
    "Invoice",
    "InvoiceLine",
    "LedgerInterval",
    "LicenceSku",
    "LicensedHost",
    "OneTimeToken",
    "Order",
    "Product",
    "ProvisioningAttempt",
    "Reseller",
    "Seat",
    "SeatWork",
    "SplaSubmission",
    "StripeEvent",
    "TrueupPolicy",
    "TrueupRun",
    "UsageEvent",
    "User",
    "product_licences",
]
