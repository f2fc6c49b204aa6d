"""Tax rates and each client's tax setting.

A rate is stored as an integer in parts per million of the amount (19.1234 % is 191 234), so a
percentage with up to four decimals is exact and no float is ever involved.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKey, String, Text, false
from sqlalchemy.orm import Mapped, mapped_column, relationship

from portal.accounts.models import Client
from portal.db import Base, utcnow

PPM_PER_PERCENT = 10_000
MAX_RATE_PPM = 100 * PPM_PER_PERCENT


class TaxRate(Base):
    __tablename__ = "tax_rates"
    __table_args__ = (
        CheckConstraint(f"rate_ppm >= 0 AND rate_ppm <= {MAX_RATE_PPM}", name="rate_is_a_percentage"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100))  # e.g. "VAT"
    rate_ppm: Mapped[int]
    # Included in the prices (the line's amount already holds it) or added on top of them.
    inclusive: Mapped[bool] = mapped_column(default=False, server_default=false())
    jurisdiction: Mapped[str] = mapped_column(String(100))  # e.g. "PL"
    # Stripe's TaxRate with the same figures, created on first push (Stripe's rates cannot change).
    stripe_tax_rate_id: Mapped[str | None] = mapped_column(String(255))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    @property
    def label(self) -> str:
        return f"{self.name} {format_rate(self.rate_ppm)} %" + (" (included)" if self.inclusive else "")


class ClientTax(Base):
    """Which rate a client pays, or that it is exempt (and why: the certificate or reason)."""

    __tablename__ = "client_taxes"

    client_id: Mapped[int] = mapped_column(ForeignKey("clients.id", ondelete="CASCADE"), primary_key=True)
    tax_rate_id: Mapped[int | None] = mapped_column(ForeignKey("tax_rates.id", ondelete="SET NULL"))
    exempt: Mapped[bool] = mapped_column(default=False, server_default=false())
    exemption_note: Mapped[str | None] = mapped_column(Text)

    client: Mapped[Client] = relationship()
    tax_rate: Mapped[TaxRate | None] = relationship()


def format_rate(rate_ppm: int) -> str:
    """19.1234, 23, 7.5: the percentage as a person writes it, from parts per million."""
    whole, fraction = divmod(rate_ppm, PPM_PER_PERCENT)
    return f"{whole}.{fraction:04d}".rstrip("0").rstrip(".") if fraction else str(whole)
