"""Which adapter serves which product kind: PROVISIONING_ADAPTERS, plus each platform's settings.

Adapters are built on first use in each worker process (after Celery forks, so no connection is
shared between processes) and kept for the life of the app.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from flask import current_app

from provisioning.adapters.base import (
    Account,
    AccountState,
    Adapter,
    AdapterError,
    NotConfigured,
    SeatRequest,
    SeatUser,
)

__all__ = [
    "Account",
    "AccountState",
    "Adapter",
    "AdapterError",
    "NotConfigured",
    "SeatRequest",
    "SeatUser",
    "adapter_name_for",
    "get_adapter",
]

_KIND_LABELS = {"desktop": "Hosted desktops", "mailbox": "Mailboxes", "voip": "VoIP seats"}


def adapter_name_for(kind: str) -> str:
    return str(current_app.config["PROVISIONING_ADAPTERS"][str(kind)])


def get_adapter(kind: str) -> Adapter:
    """The configured adapter for a product kind; NotConfigured (a plain reason) if it cannot run."""
    name = adapter_name_for(kind)
    cache: dict[str, Adapter] = current_app.extensions.setdefault("seatmeter.adapters", {})
    if name not in cache:
        cache[name] = build_adapter(name, str(kind), current_app.config)
    return cache[name]


def build_adapter(name: str, kind: str, config: Mapping[str, Any]) -> Adapter:
    label = _KIND_LABELS.get(kind, kind)
    if name == "workspaces":
        from provisioning.adapters.workspaces import WorkSpacesAdapter

        return WorkSpacesAdapter.from_config(config)
    if name == "workmail":
        from provisioning.adapters.workmail import WorkMailAdapter

        return WorkMailAdapter.from_config(config)
    if name == "kamailio":
        from provisioning.adapters.kamailio import KamailioAdapter

        return KamailioAdapter.from_config(config)
    if name == "active_directory":
        from provisioning.adapters.active_directory import ActiveDirectoryAdapter

        return ActiveDirectoryAdapter.from_config(config)
    raise NotConfigured(f"{label} are not offered on this installation (PROVISIONING_ADAPTERS: {kind}=none).")
