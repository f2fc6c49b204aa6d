"""The small interface every PSA adapter offers, with typed values in and out and one error type.

ConnectWise PSA is the first adapter (:mod:`metering.psa.connectwise`); Autotask (contract
services) or HaloPSA (recurring invoices) would implement the same :class:`Psa` protocol: a PSA
has companies, a company has agreements, an agreement carries recurring lines ("additions") for
items of the PSA's catalog, and the sync sets the quantity of those lines.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True)
class PsaCompany:
    id: int
    identifier: str
    name: str


@dataclass(frozen=True)
class PsaAgreement:
    id: int
    name: str
    company_id: int


@dataclass(frozen=True)
class PsaCatalogItem:
    id: int
    identifier: str
    description: str


@dataclass(frozen=True)
class PsaAddition:
    """A recurring line of an agreement: this many of a catalog item, billed each cycle."""

    id: int
    agreement_id: int
    catalog_item_id: int
    quantity: int
    cancelled: bool


class PsaError(Exception):
    """A PSA call failed. ``retryable``: try again later (throttled, the PSA's own error, network)."""

    def __init__(
        self, message: str, *, retryable: bool, retry_after: int | None = None, status: int | None = None
    ) -> None:
        super().__init__(message)
        self.message = message
        self.retryable = retryable
        self.retry_after = retry_after
        self.status = status  # the HTTP status, when the PSA answered


class Psa(Protocol):
    """What the sync and the mapping page need of a PSA. Every call is safe to repeat."""

    name: str

    def list_companies(self) -> list[PsaCompany]: ...

    def list_agreements(self) -> list[PsaAgreement]: ...

    def list_catalog_items(self) -> list[PsaCatalogItem]: ...

    def get_addition(self, agreement_id: int, addition_id: int) -> PsaAddition | None: ...

    def find_additions(self, agreement_id: int, catalog_item_id: int) -> list[PsaAddition]:
        """The agreement's additions of this item that are not cancelled, oldest first."""
        ...

    def create_addition(self, agreement_id: int, catalog_item_id: int, quantity: int) -> PsaAddition: ...

    def set_addition_quantity(self, agreement_id: int, addition_id: int, quantity: int) -> PsaAddition: ...
