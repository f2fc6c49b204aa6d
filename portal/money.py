"""Money as integer minor units plus an ISO currency code: parsing what people type, and display."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation

_SYMBOLS = {"USD": "$", "EUR": "€", "GBP": "£", "CAD": "CA$", "AUD": "A$"}
# Minor units per major unit; every currency we bill in today has cents.
_MINOR_DIGITS = 2


def parse_amount(text: str) -> int:
    """'39', '39.00', '1,299.50' → minor units. Raises ValueError with a message for a person."""
    cleaned = text.strip().replace(",", "").lstrip("$€£")
    try:
        value = Decimal(cleaned)
    except InvalidOperation:
        raise ValueError(f"“{text}” is not an amount; write it like 39.00") from None
    if not value.is_finite() or value < 0:
        raise ValueError("The amount must be zero or more.")
    if -value.as_tuple().exponent > _MINOR_DIGITS:  # type: ignore[operator]
        raise ValueError("Use at most two decimal places.")
    minor = int(value.scaleb(_MINOR_DIGITS))
    if minor > 10**11:
        raise ValueError("That amount is too large.")
    return minor


def format_amount(amount_minor: int, currency: str = "USD") -> str:
    sign = "-" if amount_minor < 0 else ""
    major, minor = divmod(abs(amount_minor), 10**_MINOR_DIGITS)
    symbol = _SYMBOLS.get(currency, "")
    suffix = "" if symbol else f" {currency}"
    return f"{sign}{symbol}{major:,}.{minor:0{_MINOR_DIGITS}d}{suffix}"


def amount_as_decimal_text(amount_minor: int) -> str:
    """The value to prefill in a form field: 3900 → '39.00'."""
    major, minor = divmod(amount_minor, 10**_MINOR_DIGITS)
    return f"{major}.{minor:0{_MINOR_DIGITS}d}"
