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
