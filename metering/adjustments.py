"""Adjustment lines for a month that was already invoiced: what is counted now less what was billed.

Pure: no database, no clock. Month close calls it for each finalized month whose ledger changed
afterwards (late usage events, a backdated interval), and puts the lines on the next invoice.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from metering.periods import BillingPeriod
from metering.rating import InvoiceLineDraft, Price

__all__ = ["Billed", "rate_adjustments"]


@dataclass(frozen=True, slots=True)
class Billed:
    """What earlier invoices billed for one product and month: total quantity, at which unit price."""

    quantity: int
    unit_amount_minor: int
    currency: str


def rate_adjustments(
    client: str,
    period: BillingPeriod,
    counted: Mapping[str, int],
    billed: Mapping[str, Billed],
    price_book: Mapping[str, Price],
    product_names: Mapping[str, str] | None = None,
    units: Mapping[str, str] | None = None,
    commitments: Mapping[str, int] | None = None,
) -> list[InvoiceLineDraft]:
    """One line per product whose count for ``period`` differs from what was billed for it.

    The quantity is the difference (negative gives money back) at the unit price that month was billed
    at, or at today's price for a product that month did not bill at all. Ordered by product.
    ``commitments`` (product -> committed seats that month): such a product owes at least that many.
    """
    names = product_names or {}
    unit_names = units or {}
    if commitments:
        counted = {
            product: max(counted.get(product, 0), commitments.get(product, 0))
            for product in set(counted) | set(commitments)
        }
    lines: list[InvoiceLineDraft] = []
    for product in sorted(set(counted) | set(billed)):
        already = billed.get(product)
        difference = counted.get(product, 0) - (already.quantity if already else 0)
        if difference == 0:
            continue
        if already is not None:
            unit_amount, currency = already.unit_amount_minor, already.currency
        else:
            try:
                price = price_book[product]
            except KeyError:
                raise KeyError(f"product {product!r} has no price in the price book") from None
            unit_amount, currency = price.amount_minor, price.currency
        unit = unit_names.get(product, "user")
        if abs(difference) != 1:
            unit = unit if unit.endswith("s") else f"{unit}s"
        lines.append(
            InvoiceLineDraft(
                client=client,
                product=product,
                period=str(period),
                quantity=difference,
                unit_amount_minor=unit_amount,
                amount_minor=difference * unit_amount,
                currency=currency,
                description=(
                    f"Adjustment for {period.label}: {names.get(product, product)} — "
                    f"{difference:+,} {unit} (late usage)"
                ),
            )
        )
    return lines
