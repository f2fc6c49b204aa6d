"""Wiring and small helpers shared by the reseller console's pages.

Who may do what (see docs/consoles.md, "Reseller console"): both reseller roles see every page, close a
month, review bills, hold, release and approve them, file the SPLA report and download exports; only a
``reseller_admin`` suspends or resumes a client (and, elsewhere, changes prices, clients and users).
"""

from __future__ import annotations

from flask import Flask, abort, current_app, render_template
from werkzeug.wrappers import Response

from metering import BillingPeriod, parse_period
from portal.accounts.models import Role
from portal.accounts.services import get_reseller
from portal.audit.services import Actor
from portal.auth.access import current_portal_user
from portal.errors import ServiceError

DEFAULT_CURRENCY = "USD"


def init_reseller(app: Flask) -> None:
    from portal.reseller.credit_views import bp as credits_bp
    from portal.reseller.filing_views import bp as filing_bp
    from portal.reseller.integration_views import bp as integrations_bp
    from portal.reseller.profile_views import bp as profile_bp
    from portal.reseller.psa_views import bp as psa_bp
    from portal.reseller.quickbooks_views import bp as quickbooks_bp
    from portal.reseller.review_views import bp as review_bp
    from portal.reseller.views import bp as reseller_bp

    blueprints = (
        reseller_bp,
        review_bp,
        filing_bp,
        credits_bp,
        integrations_bp,
        profile_bp,
        quickbooks_bp,
        psa_bp,
    )
    for blueprint in blueprints:
        app.register_blueprint(blueprint)

    from portal.webhooks_out.views import init_webhooks

    init_webhooks(app)


def period_from_url(text: str) -> BillingPeriod:
    """The month named in a URL; anything else is a page that does not exist."""
    try:
        return parse_period(text)
    except ServiceError:
        abort(404)


def actor() -> Actor:
    return Actor.for_user(current_portal_user())


def is_admin() -> bool:
    return current_portal_user().role is Role.RESELLER_ADMIN


def reseller_currency() -> str:
    reseller = get_reseller()
    return reseller.currency if reseller is not None else DEFAULT_CURRENCY


def stripe_configured() -> bool:
    return bool(current_app.config.get("STRIPE_API_KEY"))


def sent_for_payment_note(count: int) -> str:
    """What happens next to approved invoices, in plain words."""
    if count == 0:
        return ""
    if stripe_configured():
        return (
            " They are being sent to Stripe for payment in the background; each one turns paid or "
            "overdue as Stripe answers."
        )
    return (
        " Stripe is not configured (STRIPE_API_KEY is not set), so they were NOT sent for payment: "
        "collect them another way, e.g. from the QuickBooks export."
    )


def download(body: str | bytes, filename: str, mimetype: str) -> Response:
    response = Response(body, mimetype=mimetype)
    response.headers["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


def error_page(code: int, title: str, message: str) -> tuple[str, int]:
    return render_template("error.html", code=code, title=title, message=message), code
