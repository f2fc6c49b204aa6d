"""Who sends usage, and which clients they may name.

The reseller's own tokens and imports name clients by reference. An integration (an RMM) names its
own organisation or site ids, which its source mappings turn into clients; it may also name a client
by reference, but only one mapped to it. Event ids are unique per sender.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from metering.usage.models import RESELLER_SENDER, integration_sender
from portal.accounts.integration_services import clients_of_integration, mapped_clients
from portal.accounts.models import ApiToken, Integration, Role
from portal.errors import InvalidInput


@dataclass(frozen=True)
class Sender:
    """``key`` owns the event ids; ``integration`` is set for an integration's token."""

    key: str
    integration: Integration | None = None

    @classmethod
    def reseller(cls) -> Sender:
        return cls(RESELLER_SENDER)

    @classmethod
    def of_integration(cls, integration: Integration) -> Sender:
        return cls(integration_sender(integration.id), integration)

    @classmethod
    def of_token(cls, token: ApiToken) -> Sender:
        if token.role is Role.INTEGRATION and token.integration is not None:
            return cls.of_integration(token.integration)
        return cls.reseller()


class UnmappedSources(InvalidInput):
    """Usage for organisation ids that no mapping of the integration names (a 422 naming them).

    The edge rolls the request back and then notes the ids, so the console can offer to map them.
    """

    def __init__(
        self, message: str, *, integration_id: int, external_orgs: Iterable[str], fields: dict[str, str]
    ) -> None:
        super().__init__(message, fields=fields)
        self.integration_id = integration_id
        self.external_orgs = sorted(set(external_orgs))


def unmapped_message(integration: Integration, orgs: Iterable[str]) -> str:
    names = ", ".join(f"“{org}”" for org in sorted(set(orgs))[:10])
    return (
        f"No client is mapped to the {integration.source} organisation {names}; "
        "map it on the console (Integrations) or with PUT /integrations/{source}/mappings/{external_org}."
    )


@dataclass
class ClientScope:
    """The client references a sender may name, and its organisation ids resolved to references."""

    refs: dict[str, int] | None  # None: any client
    orgs: dict[str, str] = field(default_factory=dict)  # external org → client ref


def client_scope(sender: Sender, external_orgs: Iterable[str]) -> ClientScope:
    if sender.integration is None:
        return ClientScope(refs=None)
    mapped = mapped_clients(sender.integration.id, external_orgs)
    return ClientScope(
        refs=clients_of_integration(sender.integration.id),
        orgs={org: client.ref for org, client in mapped.items()},
    )
