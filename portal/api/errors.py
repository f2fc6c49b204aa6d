"""The API's one error format, ``{"error": {"code", "message", "fields"?}}``, for every failure.

Services raise :mod:`portal.errors`; API code raises :class:`ApiError` for what only the API knows
about (a missing token, a malformed body). Both become the same JSON, and so do Werkzeug's errors
(404 for an unknown path, 405 for a wrong method) under ``/api/``.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, current_app, jsonify
from werkzeug.exceptions import HTTPException

from portal.db import db
from portal.errors import ServiceError, too_large_message
from portal.web.limits import rate_limited_message, retry_after_seconds

# Codes of the errors that do not come from a service (those carry their own ServiceError.code).
_HTTP_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "too_large",
    415: "unsupported_media_type",
    422: "invalid",
    429: "rate_limited",
    500: "internal",
}


class ApiError(Exception):
    """An error answered as JSON with ``status``; ``fields`` maps a body field to its problem."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        fields: dict[str, str] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.fields = fields or {}
        self.headers = headers or {}


def error_body(code: str, message: str, fields: dict[str, str] | None = None) -> dict[str, Any]:
    error: dict[str, Any] = {"code": code, "message": message}
    if fields:
        error["fields"] = fields
    return {"error": error}


def error_response(
    status: int,
    code: str,
    message: str,
    fields: dict[str, str] | None = None,
    headers: dict[str, str] | None = None,
) -> Response:
    response = jsonify(error_body(code, message, fields))
    response.status_code = status
    response.headers.update(headers or {})
    return response


def _api_error(error: ApiError) -> Response:
    # Whatever a view flushed before failing must not be committed by anyone later.
    db.session.rollback()
    return error_response(error.status, error.code, error.message, error.fields, error.headers)


def _service_error(error: ServiceError) -> Response:
    db.session.rollback()
    return error_response(error.http_status, error.code, error.message, error.fields)


def http_error_response(error: HTTPException) -> Response:
    """Werkzeug's HTTP errors as API JSON; the app's error handler sends ``/api/`` paths here."""
    db.session.rollback()
    status = error.code or 500
    if status >= 500:
        current_app.logger.error("API request failed: %s", error)
        message = "Something went wrong on our side; nothing was changed. Try again later."
    elif status == 404:
        message = "There is nothing at this address."
    elif status == 405:
        message = "This address does not accept this method."
    elif status == 413:
        message = too_large_message(current_app.config.get("MAX_CONTENT_LENGTH"))
    elif status == 429:
        message = rate_limited_message()
    else:
        message = error.description or error.name
    headers = {name: value for name, value in error.get_headers() if name.lower() == "allow"}
    if status == 429:
        headers["Retry-After"] = str(retry_after_seconds())
    return error_response(status, _HTTP_CODES.get(status, "error"), message, headers=headers)


def register_error_handlers(bp: Blueprint) -> None:
    bp.register_error_handler(ApiError, _api_error)
    bp.register_error_handler(ServiceError, _service_error)
    bp.register_error_handler(HTTPException, http_error_response)
