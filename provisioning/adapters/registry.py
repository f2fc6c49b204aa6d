"""The platforms Seatmeter can provision, by the name PROVISIONING_ADAPTERS and true-up findings use.

A platform is registered as ``"module:Class"``: the module is imported the first time the platform
is used, so an installation that never offers hosted desktops never imports boto3 or ldap3. The
class builds itself from the app's settings (``Class.from_config(config)``) and raises NotConfigured
when they are missing. Adding a platform is its module plus one :func:`register` line below.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from typing import Any

from provisioning.adapters.base import Adapter, NotConfigured

AdapterFactory = Callable[[Mapping[str, Any]], Adapter]

_KIND_LABELS = {"desktop": "Hosted desktops", "mailbox": "Mailboxes", "voip": "VoIP seats"}
# name -> "module:Class" not imported yet, or a factory (imported, or registered as a callable).
_REGISTRY: dict[str, str | AdapterFactory] = {}


def register(name: str, target: str | AdapterFactory) -> None:
    """Offer a platform under ``name``: ``"module:Class"`` (imported on first use) or a factory."""
    _REGISTRY[name] = target


def unregister(name: str) -> None:
    _REGISTRY.pop(name, None)


def registered() -> list[str]:
    return sorted(_REGISTRY)


def factory_for(name: str) -> AdapterFactory | None:
    """The factory of a registered platform (importing its module now), or None if there is none."""
    target = _REGISTRY.get(name)
    if not isinstance(target, str):
        return target
    module_name, _, class_name = target.partition(":")
    cls = getattr(importlib.import_module(module_name), class_name)
    if getattr(cls, "name", name) != name:
        # The attempt log and the findings record adapter.name: it must be the registered name.
        raise RuntimeError(f"{target} calls itself {cls.name!r}, but is registered as {name!r}")
    factory: AdapterFactory = cls.from_config
    _REGISTRY[name] = factory
    return factory


def build_adapter(name: str, kind: str, config: Mapping[str, Any]) -> Adapter:
    """The adapter registered as ``name``, built from ``config``; NotConfigured if there is none."""
    factory = factory_for(name)
    if factory is None:
        label = _KIND_LABELS.get(kind, kind)
        raise NotConfigured(
            f"{label} are not offered on this installation (PROVISIONING_ADAPTERS: {kind}=none)."
        )
    return factory(config)


register("workspaces", "provisioning.adapters.workspaces:WorkSpacesAdapter")
register("workmail", "provisioning.adapters.workmail:WorkMailAdapter")
register("kamailio", "provisioning.adapters.kamailio:KamailioAdapter")
register("active_directory", "provisioning.adapters.active_directory:ActiveDirectoryAdapter")
