"""SPLA-style licence counting over the licence ledger.

Pure functions over :class:`LicenceInterval` values: no database, no clock.

Rules (see docs/billing.md, "Licence counting rules"):

* An end user holds a product in a window ``[start, stop)`` if any of their intervals overlaps the
  window with positive length. An interval that stops exactly at ``start`` or starts exactly at ``stop``
  does not count; one minute inside the window counts as a full user. No proration, no concurrency.
* A user counts once per SKU per client, however many products or seats give them that SKU.
* A product with an empty bill of licences (e.g. VoIP) contributes no SKU.
* A seat in service with nobody assigned (an interval with no end user, naming its seat) is not a
  user and holds no SKU; it bills one unit of its product for the month unless a person held that
  seat in the month (:func:`count_unassigned_seats`).

Each function makes one pass over the intervals and keeps only per-(client, product) user sets, so it is
linear in the number of intervals.
"""

from __future__ import annotations

import enum
from collections import defaultdict
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from metering.periods import require_aware

__all__ = [
    "DeviceSnapshot",
    "HostEdition",
    "LicenceInterval",
    "PeopleSnapshot",
    "core_license_packs",
    "count_product_users",
    "count_sku_users",
    "count_snapshot_devices",
    "count_unassigned_seats",
    "edition_for_sku",
    "host_core_packs",
    "intervals_from_snapshots",
    "sql_vm_packs",
]


@dataclass(frozen=True, slots=True)
class LicenceInterval:
    """One stretch of time during which ``end_user`` of ``client`` was authorized to use ``product``.

    Half-open ``[start, stop)``; ``stop is None`` means the interval is still open. A zero-length
    interval (``stop == start``) is allowed and holds nothing.

    ``seat`` is the seat it came through, if any. ``end_user is None`` is a seat in service with
    nobody assigned (a working phone extension): it must name its seat, which it bills for.
    """

    client: str
    end_user: str | None
    product: str
    start: datetime
    stop: datetime | None = None
    seat: int | None = None
    # The platform the product was held on (its placement); None: the product's bill applies.
    platform: str | None = None

    def __post_init__(self) -> None:
        for name in ("client", "end_user", "product"):
            value = getattr(self, name)
            if name == "end_user" and value is None:
                if self.seat is None:
                    raise ValueError(
                        "LicenceInterval with no end user must name its seat (a seat in service)"
                    )
                continue
            if not isinstance(value, str) or not value:
                raise ValueError(f"LicenceInterval.{name} must be a non-empty string, got {value!r}")
        require_aware(self.start, "LicenceInterval.start")
        if self.stop is not None:
            require_aware(self.stop, "LicenceInterval.stop")
            if self.stop < self.start:
                raise ValueError(
                    f"LicenceInterval for {self.end_user!r} / {self.product!r} stops "
                    f"({self.stop.isoformat()}) before it starts ({self.start.isoformat()})"
                )

    def overlaps(self, start: datetime, stop: datetime) -> bool:
        """True if this interval holds the licence for a positive length of time within ``[start, stop)``."""
        own_stop = self.stop
        if own_stop is None:
            return self.start < stop
        return self.start < stop and own_stop > start and own_stop > self.start


def _check_window(start: datetime, stop: datetime) -> None:
    require_aware(start, "start")
    require_aware(stop, "stop")
    if stop <= start:
        raise ValueError(f"counting window is empty: stop {stop.isoformat()} <= start {start.isoformat()}")


def count_product_users(
    intervals: Iterable[LicenceInterval], start: datetime, stop: datetime
) -> dict[tuple[str, str], frozenset[str]]:
    """Distinct end users per ``(client, product)`` who held the product at any instant of ``[start, stop)``.

    Pairs with no user in the window are absent from the result. Seats with nobody are no users.
    """
    _check_window(start, stop)
    users: defaultdict[tuple[str, str], set[str]] = defaultdict(set)
    for interval in intervals:
        if interval.end_user is None:
            continue
        # Inlined LicenceInterval.overlaps: this loop runs over the whole month's ledger.
        own_start = interval.start
        own_stop = interval.stop
        if own_start >= stop:
            continue
        if own_stop is not None and (own_stop <= start or own_stop <= own_start):
            continue
        users[(interval.client, interval.product)].add(interval.end_user)
    return {key: frozenset(members) for key, members in users.items()}


def count_unassigned_seats(
    intervals: Iterable[LicenceInterval], start: datetime, stop: datetime
) -> dict[tuple[str, str], frozenset[int]]:
    """Seats per ``(client, product)`` in service in ``[start, stop)`` with no person counted through them.

    A seat is in service in the window when an interval of it with nobody overlaps the window. Each
    such seat bills one unit of its product, unless a person held that seat in the window (any of its
    intervals with an end user overlaps it): that person is counted as a user instead, so a seat
    held by someone all month, or for a day of it, is one unit, never two. Pairs with no such seat
    are absent from the result.
    """
    _check_window(start, stop)
    nobody: defaultdict[tuple[str, str], set[int]] = defaultdict(set)
    held: set[int] = set()
    for interval in intervals:
        seat = interval.seat
        if seat is None or not interval.overlaps(start, stop):
            continue
        if interval.end_user is None:
            nobody[(interval.client, interval.product)].add(seat)
        else:
            held.add(seat)
    result = {key: frozenset(seats - held) for key, seats in nobody.items()}
    return {key: seats for key, seats in result.items() if seats}


def count_sku_users(
    intervals: Iterable[LicenceInterval],
    bill_of_licences: Mapping[str, Sequence[str]],
    start: datetime,
    stop: datetime,
    placement_bills: Mapping[tuple[str, str], Sequence[str]] | None = None,
) -> dict[tuple[str, str], frozenset[str]]:
    """Distinct end users per ``(client, sku)`` who were licensed for the SKU at any instant of the window.

    ``bill_of_licences`` maps a product code to the licence SKUs one seat of it requires.
    ``placement_bills`` maps ``(product, platform)`` to the bill of that placement: an interval held
    on a platform with a placement uses it instead (a desktop on WorkSpaces needs no SPLA SAL). A user
    who gets the same SKU through several products counts once. A product with no SKUs contributes
    nothing.

    Raises KeyError naming the product if an interval that holds something in the window has a product
    missing from ``bill_of_licences`` (never silently drop licences). Intervals outside the window are
    not checked.
    """
    placement_bills = placement_bills or {}
    _check_window(start, stop)
    # Per (client, product, platform): a person held on two platforms needs both bills.
    placed_users: defaultdict[tuple[str, str, str | None], set[str]] = defaultdict(set)
    for interval in intervals:
        if interval.end_user is None or not interval.overlaps(start, stop):
            continue
        placed_users[(interval.client, interval.product, interval.platform)].add(interval.end_user)
    sku_users: defaultdict[tuple[str, str], set[str]] = defaultdict(set)
    for (client, product, platform), members in placed_users.items():
        try:
            placed = placement_bills.get((product, platform)) if platform is not None else None
            skus = placed if placed is not None else bill_of_licences[product]
        except KeyError:
            raise KeyError(
                f"product {product!r} (client {client!r}) has no bill of licences; "
                "add it to the catalog (an empty list if it carries no licence)"
            ) from None
        if isinstance(skus, str):
            # A bare string is a Sequence[str] of characters; that is always a catalog bug.
            raise TypeError(f"bill of licences for {product!r} must be a list of SKUs, got string {skus!r}")
        for sku in skus:
            sku_users[(client, sku)].update(members)
    return {key: frozenset(members) for key, members in sku_users.items()}


class HostEdition(enum.StrEnum):
    """What a licensed host runs, which decides how its cores are counted (docs/spla-hosts.md)."""

    WINDOWS_STANDARD = "windows_standard"
    WINDOWS_DATACENTER = "windows_datacenter"
    SQL_STANDARD = "sql_standard"
    SQL_ENTERPRISE = "sql_enterprise"

    @property
    def is_sql(self) -> bool:
        return self in (HostEdition.SQL_STANDARD, HostEdition.SQL_ENTERPRISE)

    @property
    def label(self) -> str:
        return {
            HostEdition.WINDOWS_STANDARD: "Windows Server Standard",
            HostEdition.WINDOWS_DATACENTER: "Windows Server Datacenter",
            HostEdition.SQL_STANDARD: "SQL Server Standard",
            HostEdition.SQL_ENTERPRISE: "SQL Server Enterprise",
        }[self]


def edition_for_sku(code: str) -> HostEdition:
    """The edition a per-core SKU code names (WINSTD…, SQLENT…, SQL…); anything else counts as
    Datacenter, which licenses the cores once like every host did before editions existed."""
    upper = code.upper()
    if upper.startswith("WINSTD"):
        return HostEdition.WINDOWS_STANDARD
    if upper.startswith("SQLENT"):
        return HostEdition.SQL_ENTERPRISE
    if upper.startswith("SQL"):
        return HostEdition.SQL_STANDARD
    return HostEdition.WINDOWS_DATACENTER


def _require_positive(**values: int) -> None:
    for name, value in values.items():
        if not isinstance(value, int) or isinstance(value, bool):
            raise TypeError(f"{name} must be an int, got {value!r}")
        if value <= 0:
            raise ValueError(f"{name} must be positive, got {value}")


def _packs(cores: int) -> int:
    return -(-cores // 2)


def core_license_packs(physical_cores: int, processors: int) -> int:
    """Two-core Windows Server packs that license every physical core of a host once:
    ``ceil(max(cores, 8 * processors, 16) / 2)``."""
    _require_positive(physical_cores=physical_cores, processors=processors)
    return _packs(max(physical_cores, 8 * processors, 16))


def sql_vm_packs(vcpus: int) -> int:
    """Two-core SQL Server packs for one VM licensed per virtual core: ``ceil(max(vCPUs, 4) / 2)``."""
    _require_positive(vcpus=vcpus)
    return _packs(max(vcpus, 4))


def host_core_packs(
    edition: HostEdition, physical_cores: int, processors: int, vm_vcpus: Sequence[int | None]
) -> int:
    """Two-core packs one host owes for a month in which it ran the VMs ``vm_vcpus`` (one entry per
    VM: its vCPUs, or None where the edition does not need them).

    * Windows Server Datacenter: every core once, however many VMs.
    * Windows Server Standard: every core once per two VMs (at least once, for the host itself).
    * SQL Server (Standard or Enterprise): per VM, its vCPUs with a 4-core minimum; a month with no
      VM recorded is licensed on the host's physical cores (4 per processor minimum) instead, so a
      host whose VMs were never recorded is never reported as owing nothing.
    """
    _require_positive(physical_cores=physical_cores, processors=processors)
    if edition is HostEdition.WINDOWS_DATACENTER:
        return core_license_packs(physical_cores, processors)
    if edition is HostEdition.WINDOWS_STANDARD:
        return core_license_packs(physical_cores, processors) * max(1, -(-len(vm_vcpus) // 2))
    if not vm_vcpus:
        return _packs(max(physical_cores, 4 * processors))
    if any(vcpus is None for vcpus in vm_vcpus):
        raise ValueError(f"{edition.label} is licensed per VM: every VM needs its vCPUs")
    return sum(sql_vm_packs(vcpus) for vcpus in vm_vcpus if vcpus is not None)


@dataclass(frozen=True, slots=True)
class PeopleSnapshot:
    """The people one sender saw holding one product at ``as_of``.

    ``stream`` names the sender's series (its organisation or site): a person absent from the next
    snapshot *of the same stream* stops holding the product at that snapshot's moment.
    """

    stream: str
    as_of: datetime
    users: frozenset[str]

    def __post_init__(self) -> None:
        require_aware(self.as_of, "PeopleSnapshot.as_of")


def intervals_from_snapshots(
    snapshots: Iterable[PeopleSnapshot],
) -> dict[str, list[tuple[datetime, datetime | None]]]:
    """Per person, the half-open intervals ``[start, stop)`` in which the snapshots show them holding.

    Each stream is read in ``as_of`` order, whatever order the snapshots came in: a person holds
    from the first snapshot they appear in until the next snapshot of that stream without them
    (still open after the stream's newest snapshot). Intervals of one person from several streams
    are merged where they overlap or touch, so each person's list is sorted and disjoint.
    """
    streams: defaultdict[str, list[PeopleSnapshot]] = defaultdict(list)
    for snapshot in snapshots:
        streams[snapshot.stream].append(snapshot)
    spans: defaultdict[str, list[tuple[datetime, datetime | None]]] = defaultdict(list)
    for series in streams.values():
        open_since: dict[str, datetime] = {}
        for snapshot in sorted(series, key=lambda item: item.as_of):
            for user in sorted(open_since.keys() - snapshot.users):
                spans[user].append((open_since.pop(user), snapshot.as_of))
            for user in snapshot.users - open_since.keys():
                open_since[user] = snapshot.as_of
        for user, since in open_since.items():
            spans[user].append((since, None))
    return {user: _merged(found) for user, found in sorted(spans.items())}


def _merged(spans: list[tuple[datetime, datetime | None]]) -> list[tuple[datetime, datetime | None]]:
    merged: list[tuple[datetime, datetime | None]] = []
    for start, stop in sorted(spans, key=lambda span: span[0]):
        if merged:
            last_start, last_stop = merged[-1]
            if last_stop is None or start <= last_stop:
                joined = None if last_stop is None or stop is None else max(last_stop, stop)
                merged[-1] = (last_start, joined)
                continue
        merged.append((start, stop))
    return merged


@dataclass(frozen=True, slots=True)
class DeviceSnapshot:
    """How many units (devices, agents) one sender's ``stream`` counted for a client's product."""

    client: str
    product: str
    stream: str
    as_of: datetime
    quantity: int

    def __post_init__(self) -> None:
        require_aware(self.as_of, "DeviceSnapshot.as_of")
        if not isinstance(self.quantity, int) or isinstance(self.quantity, bool) or self.quantity < 0:
            raise ValueError(f"DeviceSnapshot.quantity must be a whole number from 0, got {self.quantity!r}")


def count_snapshot_devices(
    snapshots: Iterable[DeviceSnapshot],
    start: datetime,
    stop: datetime,
    averaged: Collection[str] = (),
) -> dict[tuple[str, str], int]:
    """Units per ``(client, product)`` for ``[start, stop)`` from the snapshots taken in it.

    A count is a level, not an amount used, so snapshots are never summed over time: each stream
    bills the peak of its snapshots in the window, or, for products in ``averaged``, their mean
    (rounded half up). Streams are different organisations or sites, so their figures add up.
    Pairs with no snapshot in the window, or only zeroes, are absent from the result.
    """
    _check_window(start, stop)
    values: defaultdict[tuple[str, str, str], list[int]] = defaultdict(list)
    for snapshot in snapshots:
        if start <= snapshot.as_of < stop:
            values[(snapshot.client, snapshot.product, snapshot.stream)].append(snapshot.quantity)
    counts: defaultdict[tuple[str, str], int] = defaultdict(int)
    for (client, product, _stream), quantities in values.items():
        if product in averaged:
            figure = (2 * sum(quantities) + len(quantities)) // (2 * len(quantities))
        else:
            figure = max(quantities)
        counts[(client, product)] += figure
    return {key: count for key, count in counts.items() if count > 0}
