"""Reading the platforms for a true-up: every account, with what its name says about whose it is.

Only the adapters' own reading (``Adapter.discover``) is done, with no database transaction open.
Each adapter says what its platform's naming tells: the client where it can (the client's OU in
Active Directory, ``<ext>@<client ref>.<SIP_DOMAIN>`` on Kamailio, the ``seatmeter:client`` tag of a
WorkSpace), the person, and the evidence the finding keeps. This module never looks inside one.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

from flask import current_app

from portal.catalog.models import ProductKind
from provisioning.adapters import adapter_named, get_adapter
from provisioning.adapters.base import Account, Adapter, AdapterError, Discovered, FoundAccount, NotConfigured
from provisioning.trueup.models import Finding

log = logging.getLogger("seatmeter.trueup")


@dataclass(frozen=True)
class Observed:
    """One account as a platform reported it (the adapter's :class:`Discovered`), and which platform."""

    platform: str
    kind: str
    found: Discovered

    @property
    def account(self) -> Account:
        return self.found.account

    @property
    def client_ref(self) -> str | None:
        """The client the platform's naming points at (it may be unknown to Seatmeter)."""
        return self.found.client_ref

    @property
    def named_by(self) -> str | None:
        return self.found.named_by

    @property
    def evidence(self) -> dict[str, Any]:
        return self.found.evidence

    @property
    def person(self) -> str | None:
        """Who the account is for, lower-cased, when the platform names them by e-mail or UPN."""
        return self.found.person


@dataclass
class Reading:
    """What one platform reported, or why it could not be read (then nothing is concluded from it)."""

    platform: str
    kind: str
    observed: list[Observed] = field(default_factory=list)
    problem: str | None = None


def configured_kinds() -> list[tuple[str, str]]:
    """(product kind, adapter name) for every kind this installation offers."""
    adapters = current_app.config["PROVISIONING_ADAPTERS"]
    return [
        (kind.value, adapters[kind.value])
        for kind in ProductKind
        if adapters.get(kind.value, "none") != "none"
    ]


def read_platforms() -> list[Reading]:
    readings = []
    for kind, platform in configured_kinds():
        reading = Reading(platform=platform, kind=kind)
        try:
            reading.observed = read_platform(get_adapter(kind), kind)
        except NotConfigured as error:
            reading.problem = error.message
        except AdapterError as error:
            reading.problem = error.message
            log.warning("true-up could not read %s: %s", platform, error.message)
        readings.append(reading)
    return readings


def read_platform(adapter: Adapter, kind: str) -> list[Observed]:
    return [Observed(adapter.name, kind, found) for found in adapter.discover()]


def naming_of(platform: str, kind: str) -> Adapter | None:
    """The adapter that reported ``platform``'s accounts, to read its naming; None if it cannot be built
    (then nothing is concluded from its naming, as for a platform nobody configured)."""
    try:
        return adapter_named(platform, kind)
    except NotConfigured:
        return None


def found_account(finding: Finding) -> FoundAccount:
    """The account an unbilled finding recorded: its id, the seat and client its name points at."""
    seat_id = finding.evidence.get("seat_id")
    ref = finding.evidence.get("named_client")
    return FoundAccount(
        finding.account_id,
        seat_id=int(seat_id) if seat_id is not None else None,
        client_ref=str(ref) if ref is not None else None,
    )


def end_user_extension(finding: Finding) -> str | None:
    """The phone extension the end user of a finding's account would have, if its platform says."""
    adapter = naming_of(finding.platform, finding.product_kind)
    return adapter.extension_of(found_account(finding)) if adapter is not None else None
