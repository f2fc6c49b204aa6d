"""Reading the platforms for a true-up: every account, with what its name says about whose it is.

Only the adapters' own listing (``list_accounts``, or the directory's group members) is read, with
no database transaction open. The platform's naming tells the client where it can: the client's OU
in Active Directory, ``<ext>@<client ref>.<SIP_DOMAIN>`` on Kamailio, the ``seatmeter:client`` tag
of a WorkSpace. Whatever the platform said is kept as the finding's evidence.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass, field
from typing import Any

from flask import current_app

from portal.catalog.models import ProductKind
from provisioning.adapters import get_adapter
from provisioning.adapters.base import Account, Adapter, AdapterError, NotConfigured

log = logging.getLogger("seatmeter.trueup")


@dataclass(frozen=True)
class Observed:
    """One account as a platform reported it."""

    platform: str
    kind: str
    account: Account
    # The client the platform's naming points at (it may be unknown to Seatmeter), and how.
    client_ref: str | None
    named_by: str | None
    evidence: dict[str, Any]

    @property
    def person(self) -> str | None:
        """Who the account is for, lower-cased, when the platform names them by e-mail or UPN."""
        if self.platform == "workmail" and "@" in self.account.name:
            return self.account.name.lower()  # the WorkMail name is the person's e-mail
        if self.account.user and "@" in self.account.user:
            return self.account.user.lower()
        return None


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
    if adapter.name == "active_directory":
        return _directory(adapter, kind)
    if adapter.name == "kamailio":
        return _kamailio(adapter, kind)
    if adapter.name == "workspaces":
        return _workspaces(adapter, kind)
    return [
        Observed(adapter.name, kind, account, None, None, account_evidence(account))
        for account in adapter.list_accounts()
    ]


def account_evidence(account: Account) -> dict[str, Any]:
    evidence = asdict(account)
    evidence.pop("secret", None)  # never stored
    evidence["state"] = account.state.value
    return evidence


def _directory(adapter: Any, kind: str) -> list[Observed]:
    observed: dict[str, Observed] = {}
    for membership in adapter.list_memberships():
        account = membership.account
        evidence = {
            **account_evidence(account),
            "dn": membership.user_dn,
            "group": membership.group_dn,
            "when_created": membership.created_at.isoformat() if membership.created_at else None,
        }
        earlier = observed.get(account.external_id)
        if earlier is not None:
            # One user in two clients' groups: one account, listed under the first group; the
            # evidence names every group so the reseller sees it.
            earlier.evidence.setdefault("also_in", []).append(membership.group_dn)
            continue
        observed[account.external_id] = Observed(
            adapter.name, kind, account, membership.client_ref, "the client's OU and RDS group", evidence
        )
    return list(observed.values())


def _kamailio(adapter: Any, kind: str) -> list[Observed]:
    suffix = f".{adapter.sip_domain}"
    found = []
    for account in adapter.list_accounts():
        username, _, domain = account.external_id.partition("@")
        ref = domain[: -len(suffix)] if domain.endswith(suffix) else None
        evidence = {
            **account_evidence(account),
            "username": username,
            "domain": domain,
            "table": "subscriber" if account.state.value == "enabled" else "suspended (held aside)",
        }
        found.append(Observed(adapter.name, kind, account, ref, "the SIP domain", evidence))
    return found


def _workspaces(adapter: Any, kind: str) -> list[Observed]:
    from provisioning.adapters.workspaces import CLIENT_TAG

    found = []
    for account in adapter.list_accounts():
        tags = _workspace_tags(adapter, account.external_id)
        ref = tags.get(CLIENT_TAG)
        evidence = {**account_evidence(account), "tags": tags}
        found.append(
            Observed(
                adapter.name, kind, account, ref, "the WorkSpace's client tag" if ref else None, evidence
            )
        )
    return found


def _workspace_tags(adapter: Any, workspace_id: str) -> dict[str, str]:
    from provisioning.adapters.aws import aws_errors

    with aws_errors("WorkSpaces", "DescribeTags"):
        tags = adapter.client.describe_tags(ResourceId=workspace_id)["TagList"]
    return {str(tag["Key"]): str(tag.get("Value") or "") for tag in tags}
