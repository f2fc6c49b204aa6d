"""A database connection that drops during a request (a PostgreSQL restart or failover, an idle
connection killed by a proxy): a read is tried once more on a fresh connection; otherwise the API
answers a JSON 503 with ``Retry-After`` and pages a plain 503 page, never a 500.

Connections that dropped *between* requests are replaced before use by the pool's pre-ping
(portal.db.build_engine); this covers the ones that drop while a request is using them.
"""

from __future__ import annotations

from flask import Flask, Response, current_app, g, request
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError

from portal.db import db

RETRY_AFTER_SECONDS = 5
# Reads only: they change nothing, so running the view again cannot do anything twice.
_RETRYABLE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
_MESSAGE = (
    "The database could not be reached for a moment. Try again in a few seconds; if you were "
    "changing something, check whether the change was made before sending it again."
)


def connection_dropped(error: DBAPIError) -> bool:
    """The connection is gone (or the server unreachable), as opposed to a bad statement or data."""
    return bool(error.connection_invalidated) or isinstance(error, OperationalError | InterfaceError)


def _database_error(error: DBAPIError) -> Response:
    if not connection_dropped(error):
        raise error
    _discard_the_failed_transaction()
    if request.method in _RETRYABLE_METHODS and request.endpoint and not g.get("_database_retried"):
        g._database_retried = True
        current_app.logger.warning(
            "Database connection dropped during %s %s; retrying once", request.method, request.path
        )
        try:
            # Again from the before-request hooks on (they may be where it failed: authentication
            # reads the database), then the view; the after-request hooks run once, as usual.
            answer = current_app.preprocess_request()
            if answer is None:
                answer = current_app.dispatch_request()
            return current_app.make_response(answer)
        except DBAPIError as again:
            if not connection_dropped(again):
                raise
            _discard_the_failed_transaction()
        except Exception as other:
            # A 404, a 403 or a redirect raised by the retry is answered as it would have been
            # without the retry (raised from here it would become a 500).
            return current_app.make_response(current_app.handle_user_exception(other))
    current_app.logger.error("Database unavailable during %s %s: %s", request.method, request.path, error)
    headers = {"Retry-After": str(RETRY_AFTER_SECONDS), "Cache-Control": "no-store"}
    if request.path.startswith("/api/"):
        from portal.api.errors import error_response

        return error_response(503, "database_unavailable", _MESSAGE, headers=headers)
    if "_login_user" not in g:
        # Who is logged in cannot be read now: the after-request hooks see an anonymous visitor
        # instead of trying the database again.
        from portal.web import login_manager

        g._login_user = login_manager.anonymous_user()
    # A page of its own, rendered without the context processors and the layout: both read the
    # logged-in user, which needs the database that just failed.
    page = current_app.jinja_env.get_template("database_unavailable.html").render(message=_MESSAGE)
    return Response(page, 503, headers=headers)


def _discard_the_failed_transaction() -> None:
    try:
        db.session.rollback()
    except DBAPIError:
        # The rollback's own round trip can fail on the dead connection; the pool drops it anyway.
        db.session.close()


def init_database_outage(app: Flask) -> None:
    app.register_error_handler(DBAPIError, _database_error)
