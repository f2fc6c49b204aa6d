"""Imports every feature's models so that ``Base.metadata`` describes the whole schema.

Alembic's env.py imports this module; feature code imports the feature modules directly. It sits
above the engines, not in the kernel: their tables come through the names ``provisioning`` and
``metering`` export, like everything else outside an engine.
"""

from metering import (
    BillingAccount,
    BillingPeriodState,
    ClientTax,
    Commitment,
    CreditApplication,
    CreditNote,
    CreditNoteLine,
    HostVm,
    Invoice,
    InvoiceLine,
    LedgerInterval,
    LicensedHost,
    Payment,
    PsaCompanyLink,
    PsaProductLink,
    PsaSync,
    SnapshotRule,
    SplaSubmission,
    StripeEvent,
    TaxRate,
    UsageEvent,
    UsageSnapshot,
)
from portal.accounts.models import (
    ApiToken,
    Client,
    EndUser,
    FailedLogin,
    Integration,
    OneTimeToken,
    Reseller,
    SourceMapping,
    UnmappedSource,
    User,
)
from portal.api.models import IdempotencyKey
from portal.audit.models import AuditEvent
from portal.catalog.models import LicenceSku, Product, ProductPrice, SkuCost, product_licences
from portal.db import Base
from portal.notices.models import NoticeOptOut, SentNotice
from portal.orders.models import Order, Seat
from portal.webhooks_out.models import WebhookAttempt, WebhookDelivery, WebhookEndpoint, WebhookEvent
from provisioning import Finding, ProvisioningAttempt, SeatWork, TrueupPolicy, TrueupRun

__all__ = [
    "ApiToken",
    "AuditEvent",
    "Base",
    "BillingAccount",
    "BillingPeriodState",
    "Client",
    "ClientTax",
    "Commitment",
    "CreditApplication",
    "CreditNote",
    "CreditNoteLine",
    "EndUser",
    "FailedLogin",
    "Finding",
    "HostVm",
    "IdempotencyKey",
    "Integration",
    "Invoice",
    "InvoiceLine",
    "LedgerInterval",
    "LicenceSku",
    "LicensedHost",
    "NoticeOptOut",
    "OneTimeToken",
    "Order",
    "Payment",
    "Product",
    "ProductPrice",
    "ProvisioningAttempt",
    "PsaCompanyLink",
    "PsaProductLink",
    "PsaSync",
    "Reseller",
    "Seat",
    "SeatWork",
    "SentNotice",
    "SkuCost",
    "SnapshotRule",
    "SourceMapping",
    "SplaSubmission",
    "StripeEvent",
    "TaxRate",
    "TrueupPolicy",
    "TrueupRun",
    "UnmappedSource",
    "UsageEvent",
    "UsageSnapshot",
    "User",
    "WebhookAttempt",
    "WebhookDelivery",
    "WebhookEndpoint",
    "WebhookEvent",
    "product_licences",
]
