"""The JSON API at ``/api/v1``: Bearer tokens, JSON errors, idempotent POSTs, an OpenAPI document.

``bp`` is registered by :func:`portal.web.init_web` (CSRF-exempt: tokens, not cookies). Each
resource is one module listed in ``RESOURCE_MODULES``; importing it registers its routes and
documents them (see :mod:`portal.api.endpoints`).
"""

from __future__ import annotations

import importlib

from flask import Blueprint, Response

from portal.api.errors import register_error_handlers

bp = Blueprint("api", __name__, url_prefix="/api/v1")
register_error_handlers(bp)


@bp.after_request
def _not_cached(response: Response) -> Response:
    # Answers are one token's view of one client's data: no proxy or browser may keep them.
    response.headers.setdefault("Cache-Control", "no-store")
    return response


RESOURCE_MODULES = (
    "openapi",
    "catalog",
    "clients",
    "end_users",
    "orders",
    "seats",
    "usage_events",
    "usage_snapshots",
    "integrations",
    "billing",
)

for _module in RESOURCE_MODULES:
    importlib.import_module(f"{__name__}.{_module}")

__all__ = ["RESOURCE_MODULES", "bp"]
