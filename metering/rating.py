"""Rating: counted users and metered usage → invoice line drafts. A pure function of its inputs.

Money is integer minor units plus an ISO 4217 currency code; no floats anywhere.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass

from metering.periods import BillingPeriod

__all__ = [
    "InvoiceLineDraft",
    "Price",
    "TaxRule",
    "TaxedTotals",
    "invoice_total",
    "line_tax",
    "rate_device_counts",
    "rate_metered_usage",
    "rate_seat_products",
    "taxed_totals",
]

_CURRENCY_RE = re.compile(r"[A-Z]{3}")


def _check_int(value: object, name: str) -> None:
    if not isinstance(value, int) or isinstance(value, bool):
        raise TypeError(f"{name} must be an int (minor units / count), got {value!r}")


def _check_currency(currency: object) -> None:
    if not isinstance(currency, str) or _CURRENCY_RE.fullmatch(currency) is None:
        raise ValueError(f"currency must be an ISO 4217 code such as 'USD', got {currency!r}")


@dataclass(frozen=True, slots=True)
class Price:
    """A unit price: ``amount_minor`` in the currency's minor unit (cents for USD)."""

    amount_minor: int
    currency: str

    def __post_init__(self) -> None:
        _check_int(self.amount_minor, "Price.amount_minor")
        if self.amount_minor < 0:
            raise ValueError(f"Price.amount_minor must not be negative, got {self.amount_minor}")
        _check_currency(self.currency)


@dataclass(frozen=True, slots=True)
class InvoiceLineDraft:
    """One rated invoice line, not yet stored. ``amount_minor == quantity * unit_amount_minor``."""

    client: str
    product: str
    period: str
    quantity: int
    unit_amount_minor: int
    amount_minor: int
    currency: str
    description: str

    def __post_init__(self) -> None:
        BillingPeriod.parse(self.period)
        _check_int(self.quantity, "InvoiceLineDraft.quantity")
        _check_int(self.unit_amount_minor, "InvoiceLineDraft.unit_amount_minor")
        _check_int(self.amount_minor, "InvoiceLineDraft.amount_minor")
        if self.amount_minor != self.quantity * self.unit_amount_minor:
            raise ValueError(
                f"invoice line for {self.client!r} / {self.product!r}: amount {self.amount_minor} != "
                f"quantity {self.quantity} x unit {self.unit_amount_minor}"
            )
        _check_currency(self.currency)

    @classmethod
    def priced(
        cls, client: str, product: str, period: BillingPeriod, quantity: int, price: Price, description: str
    ) -> InvoiceLineDraft:
        """A line of ``quantity`` units at ``price``; the amount is derived, never passed in."""
        return cls(
            client=client,
            product=product,
            period=str(period),
            quantity=quantity,
            unit_amount_minor=price.amount_minor,
            amount_minor=quantity * price.amount_minor,
            currency=price.currency,
            description=description,
        )


def _price_for(price_book: Mapping[str, Price], product: str) -> Price:
    try:
        return price_book[product]
    except KeyError:
        raise KeyError(f"product {product!r} has no price in the price book") from None


def _plural(count: int, singular: str, plural: str) -> str:
    return f"{count:,} {singular if count == 1 else plural}"


def _rate(
    quantities: Mapping[tuple[str, str], int],
    price_book: Mapping[str, Price],
    period: BillingPeriod,
    product_names: Mapping[str, str] | None,
    units: tuple[str, str],
) -> list[InvoiceLineDraft]:
    names = product_names or {}
    lines: list[InvoiceLineDraft] = []
    for client, product in sorted(quantities):
        quantity = quantities[(client, product)]
        price = _price_for(price_book, product)
        if quantity == 0:
            continue
        name = names.get(product, product)
        description = f"{name} — {_plural(quantity, *units)}, {period.label}"
        lines.append(InvoiceLineDraft.priced(client, product, period, quantity, price, description))
    return lines


def _held_by(users: int, seats: int) -> str:
    """What a seat product's quantity is made of, in words: users, and seats in service with nobody."""
    if not seats:
        return _plural(users, "user", "users")
    in_service = f"{_plural(seats, 'seat', 'seats')} in service with nobody assigned"
    if not users:
        return in_service
    return f"{_plural(users, 'user', 'users')} and {in_service}"


def rate_seat_products(
    product_users: Mapping[tuple[str, str], Collection[str]],
    price_book: Mapping[str, Price],
    period: BillingPeriod,
    product_names: Mapping[str, str] | None = None,
    commitments: Mapping[tuple[str, str], int] | None = None,
    unassigned_seats: Mapping[tuple[str, str], Collection[int]] | None = None,
) -> list[InvoiceLineDraft]:
    """One line per ``(client, product)``: quantity = distinct users plus seats in service with nobody.

    ``unassigned_seats`` maps ``(client, product)`` to the seats that were in service in the month
    with no person counted through them (:func:`metering.counting.count_unassigned_seats`): each
    bills one unit, as a working service does. Amount = quantity x monthly price. No proration.
    Zero-quantity lines are omitted. Lines are ordered by (client, product). Raises KeyError naming
    the product if it has no price.

    ``commitments`` maps ``(client, product)`` to the seats the client committed to for the month.
    Such a product bills max(commitment, units): a line for the committed seats (even with no user),
    then, when more units were used, a true-up line for the units above the commitment.
    """
    users = {key: len(set(members)) for key, members in product_users.items()}
    seats = {key: len(set(members)) for key, members in (unassigned_seats or {}).items()}
    quantities = {key: users.get(key, 0) + seats.get(key, 0) for key in users.keys() | seats.keys()}
    commitments = commitments or {}
    names = product_names or {}
    lines: list[InvoiceLineDraft] = []
    for client, product in sorted(quantities):
        key = (client, product)
        price = _price_for(price_book, product)
        quantity = quantities[key]
        if key in commitments or quantity == 0:
            continue
        held_by = _held_by(users.get(key, 0), seats.get(key, 0))
        description = f"{names.get(product, product)} — {held_by}, {period.label}"
        lines.append(InvoiceLineDraft.priced(client, product, period, quantity, price, description))
    if not commitments:
        return lines
    for (client, product), committed in commitments.items():
        _check_int(committed, f"commitment to {product!r} of {client!r}")
        if committed <= 0:
            raise ValueError(f"commitment to {product!r} of {client!r} must be positive, got {committed}")
        price = _price_for(price_book, product)
        name = names.get(product, product)
        above = quantities.get((client, product), 0) - committed
        parts = [(committed, f"{name} — {_plural(committed, 'user', 'users')} committed, {period.label}")]
        if above > 0:
            # Seats in service with nobody are units, not users: say so only when there are some.
            unit = ("user", "users") if not seats.get((client, product)) else ("unit", "units")
            extra = f"{_plural(above, *unit)} above the commitment"
            parts.append((above, f"{name} — true-up: {extra}, {period.label}"))
        lines += [
            InvoiceLineDraft.priced(client, product, period, quantity, price, description)
            for quantity, description in parts
        ]
    # Stable: a product's committed line stays before its true-up line.
    return sorted(lines, key=lambda line: (line.client, line.product))


def rate_metered_usage(
    usage: Mapping[tuple[str, str], int],
    price_book: Mapping[str, Price],
    period: BillingPeriod,
    product_names: Mapping[str, str] | None = None,
) -> list[InvoiceLineDraft]:
    """One line per ``(client, product)`` of metered usage summed over the month, at the unit price.

    Zero usage is omitted; negative usage raises ValueError. Lines are ordered by (client, product).
    Raises KeyError naming the product if it has no price.
    """
    for (client, product), quantity in usage.items():
        _check_int(quantity, f"usage of {product!r} for {client!r}")
        if quantity < 0:
            raise ValueError(f"usage of {product!r} for {client!r} is negative: {quantity}")
    return _rate(usage, price_book, period, product_names, ("unit", "units"))


def rate_device_counts(
    counts: Mapping[tuple[str, str], int],
    price_book: Mapping[str, Price],
    period: BillingPeriod,
    product_names: Mapping[str, str] | None = None,
    averaged: Collection[str] = (),
) -> list[InvoiceLineDraft]:
    """One line per ``(client, product)`` of devices counted by snapshots (the month's peak or average).

    ``counts`` come from :func:`metering.counting.count_snapshot_devices`; ``averaged`` names the
    products billed on their average, so the line says which figure it is. Zero counts are omitted.
    """
    names = product_names or {}
    lines: list[InvoiceLineDraft] = []
    for client, product in sorted(counts):
        quantity = counts[(client, product)]
        _check_int(quantity, f"device count of {product!r} for {client!r}")
        if quantity < 0:
            raise ValueError(f"device count of {product!r} for {client!r} is negative: {quantity}")
        if quantity == 0:
            continue
        price = _price_for(price_book, product)
        figure = "monthly average" if product in averaged else "monthly peak"
        devices = _plural(quantity, "device", "devices")
        description = f"{names.get(product, product)} — {devices} ({figure}), {period.label}"
        lines.append(InvoiceLineDraft.priced(client, product, period, quantity, price, description))
    return lines


def invoice_total(lines: Iterable[InvoiceLineDraft]) -> int:
    """Sum of ``amount_minor`` over ``lines``; raises ValueError if they mix currencies. Empty → 0."""
    total = 0
    currencies: set[str] = set()
    for line in lines:
        currencies.add(line.currency)
        total += line.amount_minor
    if len(currencies) > 1:
        raise ValueError(f"cannot total invoice lines in mixed currencies: {', '.join(sorted(currencies))}")
    return total


# --- tax -------------------------------------------------------------------------------------------

PPM = 1_000_000


@dataclass(frozen=True, slots=True)
class TaxRule:
    """A tax rate as rating needs it: ``rate_ppm`` parts per million (23 % is 230 000)."""

    name: str
    rate_ppm: int
    inclusive: bool

    def __post_init__(self) -> None:
        _check_int(self.rate_ppm, "TaxRule.rate_ppm")
        if not 0 <= self.rate_ppm <= PPM:
            raise ValueError(f"TaxRule.rate_ppm must be 0..{PPM} (0..100 %), got {self.rate_ppm}")


def _divide_half_up(numerator: int, denominator: int) -> int:
    """numerator / denominator rounded half up, i.e. halves away from zero (2.5 → 3, -2.5 → -3)."""
    magnitude = (2 * abs(numerator) + denominator) // (2 * denominator)
    return magnitude if numerator >= 0 else -magnitude


def line_tax(amount_minor: int, rule: TaxRule) -> int:
    """The tax of one line in minor units, rounded half up (away from zero) on the line.

    Exclusive: ``amount x rate``. Inclusive: the part of ``amount`` that is tax,
    ``amount x rate / (1 + rate)``. A negative adjustment line gets a negative tax of the same size
    a positive line of that amount would get, so a correction cancels its original exactly.
    """
    _check_int(amount_minor, "amount_minor")
    if rule.inclusive:
        return _divide_half_up(amount_minor * rule.rate_ppm, PPM + rule.rate_ppm)
    return _divide_half_up(amount_minor * rule.rate_ppm, PPM)


def tax_share(amount_minor: int, tax_minor: int, total_minor: int) -> int:
    """The tax inside ``amount_minor``, a part of a document whose ``total_minor`` holds ``tax_minor``.

    For a credit of an amount on an invoice with several rates: the credit carries the invoice's
    own proportion of tax, rounded half up (away from zero) like a line's tax. Zero for a zero total.
    """
    for value, name in (
        (amount_minor, "amount_minor"),
        (tax_minor, "tax_minor"),
        (total_minor, "total_minor"),
    ):
        _check_int(value, name)
    if total_minor == 0:
        return 0
    if total_minor < 0:
        tax_minor, total_minor = -tax_minor, -total_minor
    return _divide_half_up(amount_minor * tax_minor, total_minor)


@dataclass(frozen=True, slots=True)
class TaxedTotals:
    """An invoice's sums: the lines' amounts, each line's tax (in line order), and what is paid."""

    subtotal_minor: int
    line_taxes: tuple[int, ...]
    tax_minor: int
    total_minor: int


def taxed_totals(lines: Iterable[InvoiceLineDraft], rule: TaxRule | None) -> TaxedTotals:
    """Subtotal, per-line tax and total of ``lines`` under ``rule`` (None: no tax, e.g. exempt).

    The total is the subtotal plus the exclusive taxes; an inclusive tax is already in the amounts.
    """
    lines = list(lines)
    subtotal = invoice_total(lines)
    taxes = tuple(line_tax(line.amount_minor, rule) if rule else 0 for line in lines)
    added = 0 if rule is None or rule.inclusive else sum(taxes)
    return TaxedTotals(
        subtotal_minor=subtotal, line_taxes=taxes, tax_minor=sum(taxes), total_minor=subtotal + added
    )
