"""Integrations (an RMM, a PSA, a script) and their source mappings: which outside organisation or
site id stands for which client. An integration's tokens act only for the clients mapped to it.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from sqlalchemy import select

from portal.accounts.models import ApiToken, Client, Integration, Role, SourceMapping, UnmappedSource
from portal.accounts.token_services import create_api_token
from portal.audit.services import Actor, record
from portal.db import db, utcnow
from portal.errors import Conflict, InvalidInput, NotFound

SOURCE_PATTERN = re.compile(r"^[a-z0-9][a-z0-9._-]{0,62}[a-z0-9]$")
MAX_EXTERNAL_ORG = 200


def clean_external_org(value: object) -> str | None:
    """An organisation or site id as the outside tool sends it (kept as is, trimmed), or None."""
    if not isinstance(value, str):
        return None
    text = value.strip()
    if not text or len(text) > MAX_EXTERNAL_ORG or any(ord(char) < 32 for char in text):
        return None
    return text


def create_integration(actor: Actor, source: str, name: str) -> Integration:
    source = source.strip().lower()
    name = name.strip()
    fields: dict[str, str] = {}
    if not SOURCE_PATTERN.fullmatch(source):
        fields["source"] = "2 to 64 lowercase letters, digits, dots, hyphens or underscores, e.g. ninjaone."
    if not name:
        fields["name"] = "Say which tool it is, e.g. NinjaOne RMM."
    if fields:
        raise InvalidInput("The integration could not be added.", fields=fields)
    if db.session.scalars(select(Integration.id).where(Integration.source == source)).first() is not None:
        raise Conflict(
            f"An integration with the source “{source}” already exists.", fields={"source": "Already taken."}
        )
    integration = Integration(source=source, name=name[:200])
    db.session.add(integration)
    db.session.flush()
    record(actor, "integration.created", "integration", integration.id, details={"source": source})
    return integration


def list_integrations() -> list[Integration]:
    return list(db.session.scalars(select(Integration).order_by(Integration.source)))


def get_integration(integration_id: int) -> Integration:
    integration = db.session.get(Integration, integration_id)
    if integration is None:
        raise NotFound("No such integration.")
    return integration


def get_integration_by_source(source: str) -> Integration:
    integration = db.session.scalars(
        select(Integration).where(Integration.source == source.strip().lower())
    ).first()
    if integration is None:
        raise NotFound(f"No integration with the source “{source[:64]}”.")
    return integration


def create_integration_token(actor: Actor, integration: Integration, name: str) -> tuple[ApiToken, str]:
    """A token that may only post usage for the clients mapped to ``integration`` and read it back."""
    return create_api_token(actor, name, Role.INTEGRATION, None, integration=integration)


def integration_tokens(integration: Integration) -> list[ApiToken]:
    return list(
        db.session.scalars(
            select(ApiToken).where(ApiToken.integration_id == integration.id).order_by(ApiToken.id)
        )
    )


def map_source(actor: Actor, integration: Integration, external_org: str, client: Client) -> SourceMapping:
    """Map an organisation id to a client (or move it to another client); it is no longer unmapped."""
    org = clean_external_org(external_org)
    if org is None:
        raise InvalidInput(
            f"Give the organisation or site id as the tool sends it (at most {MAX_EXTERNAL_ORG} characters).",
            fields={"external_org": "Required."},
        )
    mapping = db.session.scalars(
        select(SourceMapping).where(
            SourceMapping.integration_id == integration.id, SourceMapping.external_org == org
        )
    ).first()
    if mapping is None:
        mapping = SourceMapping(integration_id=integration.id, external_org=org, client_id=client.id)
        db.session.add(mapping)
    else:
        mapping.client_id = client.id
    unmapped = db.session.scalars(
        select(UnmappedSource).where(
            UnmappedSource.integration_id == integration.id, UnmappedSource.external_org == org
        )
    ).first()
    if unmapped is not None:
        db.session.delete(unmapped)
    db.session.flush()
    record(
        actor,
        "integration.source_mapped",
        "integration",
        integration.id,
        client_id=client.id,
        details={"external_org": org, "client": client.ref},
    )
    return mapping


def unmap_source(actor: Actor, integration: Integration, external_org: str) -> None:
    mapping = db.session.scalars(
        select(SourceMapping).where(
            SourceMapping.integration_id == integration.id, SourceMapping.external_org == external_org
        )
    ).first()
    if mapping is None:
        raise NotFound(f"The organisation “{external_org[:64]}” is not mapped.")
    client_id = mapping.client_id
    db.session.delete(mapping)
    db.session.flush()
    record(
        actor,
        "integration.source_unmapped",
        "integration",
        integration.id,
        client_id=client_id,
        details={"external_org": external_org},
    )


def source_mappings(integration: Integration) -> list[SourceMapping]:
    return list(
        db.session.scalars(
            select(SourceMapping)
            .where(SourceMapping.integration_id == integration.id)
            .order_by(SourceMapping.external_org)
        )
    )


def unmapped_sources(integration: Integration) -> list[UnmappedSource]:
    return list(
        db.session.scalars(
            select(UnmappedSource)
            .where(UnmappedSource.integration_id == integration.id)
            .order_by(UnmappedSource.last_seen_at.desc(), UnmappedSource.external_org)
        )
    )


def mapped_clients(integration_id: int, external_orgs: Iterable[str]) -> dict[str, Client]:
    """The client each of these organisation ids is mapped to; unmapped ids are absent."""
    orgs = sorted(set(external_orgs))
    found: dict[str, Client] = {}
    for start in range(0, len(orgs), 500):
        rows = db.session.execute(
            select(SourceMapping.external_org, Client)
            .join(Client, Client.id == SourceMapping.client_id)
            .where(
                SourceMapping.integration_id == integration_id,
                SourceMapping.external_org.in_(orgs[start : start + 500]),
            )
        )
        found.update({org: client for org, client in rows})
    return found


def clients_of_integration(integration_id: int) -> dict[str, int]:
    """Client ref → id for every client some organisation of the integration is mapped to."""
    rows = db.session.execute(
        select(Client.ref, Client.id)
        .join(SourceMapping, SourceMapping.client_id == Client.id)
        .where(SourceMapping.integration_id == integration_id)
        .distinct()
    )
    return {ref: client_id for ref, client_id in rows}


def note_unmapped_sources(integration_id: int, external_orgs: Iterable[str]) -> None:
    """Remember organisation ids the integration sent that no mapping names, for the console."""
    orgs = sorted({org for org in external_orgs if clean_external_org(org) == org})
    if not orgs:
        return
    now = utcnow()
    known = {
        row.external_org: row
        for row in db.session.scalars(
            select(UnmappedSource).where(
                UnmappedSource.integration_id == integration_id, UnmappedSource.external_org.in_(orgs)
            )
        )
    }
    for org in orgs:
        row = known.get(org)
        if row is None:
            db.session.add(
                UnmappedSource(
                    integration_id=integration_id, external_org=org, first_seen_at=now, last_seen_at=now
                )
            )
        else:
            row.last_seen_at = now
            row.times_seen += 1
    db.session.flush()
