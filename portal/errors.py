"""Errors raised by services, independent of how they reach a person (page or JSON API).

Views turn them into field errors or flashed messages; the API turns them into
``{"error": {"code", "message", "fields"}}`` with the matching HTTP status.
"""

from __future__ import annotations


class ServiceError(Exception):
    code = "error"
    http_status = 400

    def __init__(self, message: str, *, fields: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.fields = fields or {}


class InvalidInput(ServiceError):
    code = "invalid"
    http_status = 422


class NotFound(ServiceError):
    code = "not_found"
    http_status = 404


class Conflict(ServiceError):
    code = "conflict"
    http_status = 409


class PermissionDenied(ServiceError):
    code = "forbidden"
    http_status = 403


def too_large_message(limit: int | None) -> str:
    """What a person is told when a request is over MAX_REQUEST_BYTES (HTTP 413)."""
    if not limit:
        return "The request is too large for this server. Send less at a time."
    megabytes = limit / (1024 * 1024)
    size = f"{megabytes:.3g} MB" if megabytes >= 1 else f"{max(1, limit // 1024)} KB"
    return (
        f"The request is too large: this server accepts at most {size} at a time. "
        "Send less at a time, for example usage events in smaller batches."
    )
