"""The monthly SPLA report: distinct users per client and SKU, plus two-core packs of per-core hosts.

Computed from the ledger when asked, so it always reflects the usage known now. A month with no usage
gives an empty report, which is still a report: the distributor expects one every month.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from sqlalchemy import or_, select
from sqlalchemy.orm import joinedload, selectinload

from metering.billing.catalog import catalog_snapshot, cost_history, in_force_in, placement_bills
from metering.counting import HostEdition, count_sku_users, edition_for_sku, host_core_packs
from metering.ledger.services import intervals_overlapping
from metering.periods import BillingPeriod
from metering.spla.models import HostVm, LicensedHost
from portal.accounts.models import Client
from portal.audit.services import Actor, record
from portal.catalog.models import LicenceProgramme, LicenceSku, LicenceUnit
from portal.db import db
from portal.errors import Conflict, InvalidInput, NotFound
from portal.money import amount_as_decimal_text


@dataclass(frozen=True)
class SplaLine:
    client: str | None  # the client's ref; None for the reseller's shared hosts
    client_name: str | None
    sku: str
    sku_name: str
    part_number: str | None
    quantity: int
    unit_cost_minor: int
    currency: str
    # The end customer's address (its invoices' billing address); None for shared hosts.
    client_address: str | None = None


@dataclass(frozen=True)
class SplaReport:
    """One licence programme's month: the SPLA report, or the cost report of another vendor (AWS)."""

    period: BillingPeriod
    lines: list[SplaLine]
    programme: LicenceProgramme = LicenceProgramme.SPLA

    def total_minor(self, currency: str) -> int:
        return sum(line.quantity * line.unit_cost_minor for line in self.lines if line.currency == currency)


def licence_quantities(period: BillingPeriod, tz: ZoneInfo) -> dict[tuple[str | None, str], int]:
    """Per (client ref or None for shared hosts, SKU code): the licences the month needs, every
    programme together. Each interval uses the bill of the placement it was held on in ``period``."""
    start, stop = period.bounds(tz)
    catalog = catalog_snapshot(period)
    sku_users = count_sku_users(
        intervals_overlapping(start, stop),
        catalog.bill_of_licences,
        start,
        stop,
        placement_bills=placement_bills(period),
    )
    quantities: dict[tuple[str | None, str], int] = {
        key: len(users) for key, users in sku_users.items() if users
    }
    for host in hosts_in_service(start, stop):
        key = (host.client.ref if host.client else None, host.sku.code)
        quantities[key] = quantities.get(key, 0) + host_packs(host, period)
    return quantities


def spla_report(period: BillingPeriod, tz: ZoneInfo) -> SplaReport:
    """What the month reports to the SPLA distributor: Microsoft SPLA SKUs only."""
    return programme_report(period, tz, LicenceProgramme.SPLA)


def aws_cost_report(period: BillingPeriod, tz: ZoneInfo) -> SplaReport:
    """What the month's AWS licence-included services cost the reseller (never reported to Microsoft)."""
    return programme_report(period, tz, LicenceProgramme.AWS)


def programme_report(
    period: BillingPeriod,
    tz: ZoneInfo,
    programme: LicenceProgramme,
    quantities: dict[tuple[str | None, str], int] | None = None,
) -> SplaReport:
    """The month's licences of one programme, with their unit cost in force for the month.

    ``quantities``: :func:`licence_quantities` of the month, when the caller counted them already.
    """
    if quantities is None:
        quantities = licence_quantities(period, tz)
    skus = {sku.code: sku for sku in db.session.scalars(select(LicenceSku))}
    # The cost in force for the month reported: a later change leaves this report as it was.
    costs = in_force_in(cost_history(list(skus.values())), period)
    names: dict[str, str] = {}
    addresses: dict[str, str | None] = {}
    for ref, name, billing_address in db.session.execute(
        select(Client.ref, Client.name, Client.billing_address)
    ):
        names[ref] = name
        addresses[ref] = billing_address
    lines = [
        SplaLine(
            client=client,
            client_name=names.get(client) if client else None,
            sku=code,
            sku_name=skus[code].name,
            part_number=skus[code].part_number,
            quantity=quantity,
            unit_cost_minor=costs[code].amount_minor,
            currency=costs[code].currency,
            client_address=addresses.get(client) if client else None,
        )
        for (client, code), quantity in sorted(
            quantities.items(), key=lambda item: (item[0][0] or "", item[0][1])
        )
        if quantity > 0 and skus[code].programme is programme
    ]
    return SplaReport(period=period, lines=lines, programme=programme)


# The last two came later: appended, so a distributor's import that reads columns by position still works.
CSV_COLUMNS = (
    "period",
    "sku",
    "sku_name",
    "quantity",
    "unit_cost",
    "currency",
    "end_customer",
    "part_number",
    "end_customer_address",
)


def spla_report_csv(report: SplaReport) -> str:
    """The distributor's file: one row per client and SKU; shared hosts have no end customer."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(CSV_COLUMNS)
    for line in report.lines:
        writer.writerow(
            (
                str(report.period),
                line.sku,
                line.sku_name,
                line.quantity,
                amount_as_decimal_text(line.unit_cost_minor),
                line.currency,
                line.client_name or "",
                line.part_number or "",
                # One line per address: a CSV cell with line breaks trips many importers.
                ", ".join(part.strip() for part in (line.client_address or "").splitlines() if part.strip()),
            )
        )
    return buffer.getvalue()


# --- the reseller's per-core hosts ---------------------------------------------------------------


def hosts_in_service(start: datetime, stop: datetime) -> list[LicensedHost]:
    return list(
        db.session.scalars(
            select(LicensedHost)
            .options(
                joinedload(LicensedHost.sku),
                joinedload(LicensedHost.client),
                selectinload(LicensedHost.vms),
            )
            .where(
                LicensedHost.in_service_from < stop,
                or_(LicensedHost.retired_at.is_(None), LicensedHost.retired_at > start),
            )
            .order_by(LicensedHost.name)
        )
    )


def list_hosts() -> list[LicensedHost]:
    return list(
        db.session.scalars(
            select(LicensedHost)
            .options(
                joinedload(LicensedHost.sku),
                joinedload(LicensedHost.client),
                selectinload(LicensedHost.vms),
            )
            .order_by(LicensedHost.name)
        )
    )


def get_host(name: str) -> LicensedHost:
    host = db.session.scalars(select(LicensedHost).where(LicensedHost.name == name)).first()
    if host is None:
        raise NotFound(f"No host named “{name}”.")
    return host


def add_host(
    actor: Actor,
    name: str,
    physical_cores: int,
    processors: int,
    sku: LicenceSku,
    in_service_from: datetime,
    client: Client | None = None,
    *,
    edition: HostEdition | None = None,
) -> LicensedHost:
    """Add a host licensed per core; ``edition`` defaults to the one the SKU code names."""
    edition = edition if edition is not None else edition_for_sku(sku.code)
    name = name.strip()
    problems = {}
    if not name or len(name) > 100:
        problems["name"] = "Give the host a name of at most 100 characters."
    if physical_cores < 1:
        problems["cores"] = "A host has at least one physical core."
    if processors < 1:
        problems["processors"] = "A host has at least one processor."
    if sku.unit is not LicenceUnit.PER_CORE_PACK:
        problems["sku"] = f"{sku.code} is licensed per user, not per core."
    if problems:
        raise InvalidInput(" ".join(problems.values()), fields=problems)
    if db.session.scalars(select(LicensedHost.id).where(LicensedHost.name == name)).first() is not None:
        raise Conflict(f"A host named “{name}” already exists.", fields={"name": "Already in use."})
    host = LicensedHost(
        name=name,
        physical_cores=physical_cores,
        processors=processors,
        edition=edition,
        sku=sku,
        client=client,
        in_service_from=in_service_from,
    )
    db.session.add(host)
    db.session.flush()
    record(
        actor,
        "spla.host_added",
        "licensed_host",
        host.id,
        client_id=client.id if client else None,
        details={
            "name": name,
            "cores": physical_cores,
            "processors": processors,
            "sku": sku.code,
            "edition": edition.value,
            "packs": host_core_packs(edition, physical_cores, processors, []),
        },
    )
    return host


def retire_host(actor: Actor, host: LicensedHost, at: datetime) -> LicensedHost:
    if host.retired_at is not None:
        raise Conflict(f"{host.name} was already retired.")
    if at <= host.in_service_from:
        raise InvalidInput("A host retires after it entered service.", fields={"at": "Too early."})
    host.retired_at = at
    db.session.flush()
    record(
        actor,
        "spla.host_retired",
        "licensed_host",
        host.id,
        details={"name": host.name, "at": at.isoformat()},
    )
    return host


def host_packs(host: LicensedHost, period: BillingPeriod) -> int:
    """Two-core packs the host owes for ``period``, by its edition and the VMs it ran that month."""
    return host_core_packs(host.edition, host.physical_cores, host.processors, host.vm_vcpus(str(period)))


def record_host_vms(
    actor: Actor, host: LicensedHost, period: BillingPeriod, vms: list[tuple[str, int | None]]
) -> int:
    """Set the VMs ``host`` ran in ``period`` (name, vCPUs), replacing what was recorded for that month.

    Returns the month's two-core packs. SQL Server hosts need the vCPUs of every VM.
    """
    names = [name.strip() for name, _ in vms]
    problems = []
    if any(not name or len(name) > 100 for name in names):
        problems.append("Give every VM a name of at most 100 characters.")
    if len(set(names)) != len(names):
        problems.append("Name each VM once.")
    if any(vcpus is not None and vcpus < 1 for _, vcpus in vms):
        problems.append("A VM has at least one vCPU.")
    if host.edition.is_sql and any(vcpus is None for _, vcpus in vms):
        problems.append(f"{host.edition.label} is licensed per VM: give each VM its vCPUs, like sql-01:4.")
    if problems:
        raise InvalidInput(" ".join(problems), fields={"vms": " ".join(problems)})
    month = str(period)
    for vm in [vm for vm in host.vms if vm.period == month]:
        host.vms.remove(vm)
    # The removed rows go first, so a VM kept under the same name does not collide with itself.
    db.session.flush()
    for name, (_, vcpus) in zip(names, vms, strict=True):
        host.vms.append(HostVm(period=month, name=name, vcpus=vcpus))
    db.session.flush()
    packs = host_packs(host, period)
    record(
        actor,
        "spla.host_vms_recorded",
        "licensed_host",
        host.id,
        client_id=host.client_id,
        details={
            "name": host.name,
            "period": month,
            "vms": [{"name": name, "vcpus": vcpus} for name, (_, vcpus) in zip(names, vms, strict=True)],
            "packs": packs,
        },
    )
    return packs
