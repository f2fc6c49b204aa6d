"""Which adapter serves which product kind: PROVISIONING_ADAPTERS names a registered platform
(:mod:`provisioning.adapters.registry`), built from that platform's settings.

Adapters are built on first use in each worker process (after Celery forks, so no connection is
shared between processes) and kept for the life of the app.
"""

from __future__ import annotations

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
from provisioning.adapters.registry import build_adapter, register

__all__ = [
    "Account",
    "AccountState",
    "Adapter",
    "AdapterError",
    "NotConfigured",
    "SeatRequest",
    "SeatUser",
    "adapter_name_for",
    "adapter_named",
    "build_adapter",
    "get_adapter",
    "register",
]


def adapter_name_for(kind: str) -> str:
    return str(current_app.config["PROVISIONING_ADAPTERS"][str(kind)])


def get_adapter(kind: str) -> Adapter:
    """The configured adapter for a product kind; NotConfigured (a plain reason) if it cannot run."""
    return adapter_named(adapter_name_for(kind), str(kind))


def adapter_named(name: str, kind: str) -> Adapter:
    """The adapter registered as ``name`` (built once per app); ``kind`` only words NotConfigured.

    True-ups ask by name: a finding names the platform that reported it, whatever serves its kind now.
    """
    cache: dict[str, Adapter] = current_app.extensions.setdefault("seatmeter.adapters", {})
    if name not in cache:
        cache[name] = build_adapter(name, kind, current_app.config)
    return cache[name]
