"""The reseller console's business (September billed, October closed for review), for the tests of
the review and filing services that the console's pages call."""

from __future__ import annotations

from tests.portal.reseller.conftest import business, clock

__all__ = ["business", "clock"]
