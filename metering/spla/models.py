"""The reseller's own hosts that need per-core server licences (e.g. the RDS session hosts), and when
each month's SPLA report was filed, and by whom."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, CheckConstraint, ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from metering.counting import HostEdition
from portal.accounts.models import Client, str_enum
from portal.catalog.models import LicenceSku
from portal.db import Base, utcnow


class LicensedHost(Base):
    """A physical host licensed per core, in two-core packs a month by its edition and the VMs it ran
    that month (:func:`metering.counting.host_core_packs`, docs/spla-hosts.md).

    It is owed for every month in which it was in service at any instant of ``[in_service_from,
    retired_at)``. ``client`` is set for a host dedicated to one client; shared hosts have none.
    """

    __tablename__ = "licensed_hosts"
    __table_args__ = (
        CheckConstraint("physical_cores > 0 AND processors > 0", name="positive_counts"),
        CheckConstraint("retired_at IS NULL OR retired_at > in_service_from", name="retired_after_start"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    physical_cores: Mapped[int]
    processors: Mapped[int]
    edition: Mapped[HostEdition] = mapped_column(str_enum(HostEdition))
    sku_id: Mapped[int] = mapped_column(ForeignKey("licence_skus.id"))
    client_id: Mapped[int | None] = mapped_column(ForeignKey("clients.id"))
    in_service_from: Mapped[datetime]
    retired_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    sku: Mapped[LicenceSku] = relationship()
    client: Mapped[Client | None] = relationship()
    vms: Mapped[list[HostVm]] = relationship(
        order_by="(HostVm.period, HostVm.name)", cascade="all, delete-orphan", back_populates="host"
    )

    def vm_vcpus(self, period: str) -> list[int | None]:
        """The vCPUs of each VM the host ran in ``period`` ("YYYY-MM")."""
        return [vm.vcpus for vm in self.vms if vm.period == period]


class HostVm(Base):
    """A VM a licensed host ran in a month; ``vcpus`` is needed where SQL Server is licensed per VM."""

    __tablename__ = "host_vms"
    __table_args__ = (
        UniqueConstraint("host_id", "period", "name"),
        CheckConstraint("vcpus IS NULL OR vcpus > 0", name="positive_vcpus"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    host_id: Mapped[int] = mapped_column(ForeignKey("licensed_hosts.id", ondelete="CASCADE"), index=True)
    period: Mapped[str] = mapped_column(String(7))  # "YYYY-MM"
    name: Mapped[str] = mapped_column(String(100))
    vcpus: Mapped[int | None]

    host: Mapped[LicensedHost] = relationship(back_populates="vms")


class SplaSubmission(Base):
    """The month's SPLA report was sent to the distributor (one row per month, never two).

    ``report`` keeps the figures as they were when marked submitted: the ledger can still change
    afterwards (late usage), and the SPLA page then shows what differs from what was filed.
    """

    __tablename__ = "spla_submissions"

    period: Mapped[str] = mapped_column(String(7), primary_key=True)  # "YYYY-MM"
    submitted_at: Mapped[datetime]
    submitted_by_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    # The actor's label, kept as text so it still reads well after the user is removed.
    submitted_by: Mapped[str] = mapped_column(String(300))
    # The distributor's confirmation or order number, if it gave one.
    reference: Mapped[str | None] = mapped_column(String(100))
    # [{"client": ref | None, "sku": code, "quantity": n}, ...] as filed.
    report: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
