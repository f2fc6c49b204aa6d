"""Security headers on every response, and no caching of anything a logged-in person sees."""

from __future__ import annotations

from flask import Flask, Response, current_app, request
from flask_login import current_user

# Only our own files run or style a page: no inline <script>, <style>, style="" or on…="" anywhere
# in the templates (tests/portal/web/test_headers.py checks them), so an injected tag or attribute
# does nothing. The charts are SVG drawn on the server with presentation attributes (fill=,
# stroke=), which CSP does not treat as inline style. form-action keeps a form from posting a
# password elsewhere; frame-ancestors replaces X-Frame-Options in current browsers.
CONTENT_SECURITY_POLICY = "; ".join(
    (
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "font-src 'self'",
        "connect-src 'self'",
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    )
)
# The portal uses none of these; a script that got in anyway cannot ask for them.
PERMISSIONS_POLICY = ", ".join(
    f"{feature}=()"
    for feature in (
        "camera",
        "microphone",
        "geolocation",
        "payment",
        "usb",
        "serial",
        "bluetooth",
        "accelerometer",
        "gyroscope",
        "magnetometer",
    )
)
# A year, without includeSubDomains: other hosts of the MSP's domain may still serve plain http,
# and HSTS cannot be taken back from browsers that saw it.
STRICT_TRANSPORT_SECURITY = "max-age=31536000"
# Documents that carry a client's bills and people, whoever fetches them (downloads such as the
# IIF export are caught by their Content-Disposition).
_DOCUMENT_TYPES = frozenset({"application/pdf", "text/csv", "application/json"})


def _is_static() -> bool:
    endpoint = request.endpoint or ""
    return endpoint == "static" or endpoint.endswith(".static")


def _must_not_be_stored(response: Response) -> bool:
    """Pages of a logged-in user, the JSON API and downloaded documents.

    A shared or lost computer's browser cache (or a proxy's) must not keep a copy of an invoice,
    an export or a client page after the person logged out. Static files stay cacheable.
    """
    if _is_static():
        return False
    if request.path.startswith("/api/") or response.mimetype in _DOCUMENT_TYPES:
        return True
    if "Content-Disposition" in response.headers:
        return True
    return bool(current_user.is_authenticated)


def add_security_headers(response: Response) -> Response:
    headers = response.headers
    headers.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
    headers.setdefault("X-Content-Type-Options", "nosniff")
    # For browsers older than frame-ancestors.
    headers.setdefault("X-Frame-Options", "DENY")
    # Reset and invitation links carry their token in the path: never send it to another site.
    headers.setdefault("Referrer-Policy", "same-origin")
    headers.setdefault("Permissions-Policy", PERMISSIONS_POLICY)
    headers.setdefault("Cross-Origin-Opener-Policy", "same-origin")
    if current_app.config["PUBLIC_URL"].startswith("https://"):
        headers.setdefault("Strict-Transport-Security", STRICT_TRANSPORT_SECURITY)
    if _must_not_be_stored(response):
        headers["Cache-Control"] = "no-store"
        headers.pop("Expires", None)
    return response


def init_headers(app: Flask) -> None:
    app.after_request(add_security_headers)
