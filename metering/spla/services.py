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
from sqlalchemy.orm import joinedload

from metering.billing.catalog import catalog_snapshot, cost_history, in_force_in, placement_bills
from metering.counting import core_license_packs, count_sku_users
from metering.ledger.services import intervals_overlapping
from metering.periods import BillingPeriod
from metering.spla.models import LicensedHost
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
    quantity: int
    unit_cost_minor: int
    currency: str


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
        quantities[key] = quantities.get(key, 0) + core_license_packs(host.physical_cores, host.processors)
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
    names = {key: value for key, value in db.session.execute(select(Client.ref, Client.name))}
    lines = [
        SplaLine(
            client=client,
            client_name=names.get(client) if client else None,
            sku=code,
            sku_name=skus[code].name,
            quantity=quantity,
            unit_cost_minor=costs[code].amount_minor,
            currency=costs[code].currency,
        )
        for (client, code), quantity in sorted(
            quantities.items(), key=lambda item: (item[0][0] or "", item[0][1])
        )
        if quantity > 0 and skus[code].programme is programme
    ]
    return SplaReport(period=period, lines=lines, programme=programme)


CSV_COLUMNS = ("period", "sku", "sku_name", "quantity", "unit_cost", "currency", "end_customer")


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
            )
        )
    return buffer.getvalue()


# --- the reseller's per-core hosts ---------------------------------------------------------------


def hosts_in_service(start: datetime, stop: datetime) -> list[LicensedHost]:
    return list(
        db.session.scalars(
            select(LicensedHost)
            .options(joinedload(LicensedHost.sku), joinedload(LicensedHost.client))
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
            .options(joinedload(LicensedHost.sku), joinedload(LicensedHost.client))
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
) -> LicensedHost:
    name = name.strip()
    problems = {}
    if not name or len(name) > 100:
        problems["name"] = "Give the host a name of at most 100 characters."
    if physical_cores < 1:
        problems["cores"] = "At least one core."
    if processors < 1:
        problems["processors"] = "At least one processor."
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
            "packs": core_license_packs(physical_cores, processors),
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
