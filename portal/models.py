"""Imports every feature's models so that ``Base.metadata`` describes the whole schema.

Alembic's env.py and the application factory import this module; feature code imports the
feature modules directly.
"""

from metering.ledger.models import LedgerInterval
from portal.accounts.models import ApiToken, Client, EndUser, OneTimeToken, Reseller, User
from portal.audit.models import AuditEvent
from portal.catalog.models import LicenceSku, Product, product_licences
from portal.db import Base
from portal.orders.models import Order, Seat

__all__ = [
    "ApiToken",
    "AuditEvent",
    "Base",
    "Client",
    "EndUser",
    "LedgerInterval",
    "LicenceSku",
    "OneTimeToken",
    "Order",
    "Product",
    "Reseller",
    "Seat",
    "User",
    "product_licences",
]
