"""The one role check: before every request, the route's declared access is enforced.

The declarations live on the views (:mod:`portal.auth.access`, :func:`portal.api.auth.token_required`);
this is the only place that reads them at run time. A changing route (POST, PUT, PATCH, DELETE) that
declares nothing is refused, so a route whose author forgot to say who may use it is closed, not open.
"""

from __future__ import annotations

from flask import Flask, abort, current_app, request
from flask.typing import ResponseReturnValue
from flask_login import current_user

from portal.api.auth import authorize_token
from portal.auth.access import READING_METHODS, Via, access_of


def check_access() -> ResponseReturnValue | None:
    if request.endpoint is None or request.routing_exception is not None or request.method == "OPTIONS":
        # Unknown paths and wrong methods get their 404/405; OPTIONS is answered by Flask itself.
        return None
    access = access_of(current_app.view_functions.get(request.endpoint))
    if access is None:
        if request.method in READING_METHODS:
            return None
        current_app.logger.error(
            "refused %s %s: the route declares no roles", request.method, request.endpoint
        )
        abort(403)
    allowed = access.roles_for(request.method)
    if access.via is Via.ANYONE:
        return None
    if access.via is Via.TOKEN:
        authorize_token(allowed)
        return None
    if not current_user.is_authenticated:
        return current_app.login_manager.unauthorized()  # type: ignore[attr-defined]
    if current_user.role not in allowed:
        abort(403)
    return None


def init_access_check(app: Flask) -> None:
    app.before_request(check_access)
