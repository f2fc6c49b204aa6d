"""Wiring of the web side: sessions and login, CSRF, blueprints, error pages, template helpers."""

from __future__ import annotations

from flask import Flask, Response, current_app, render_template, request
from flask_login import LoginManager
from flask_wtf.csrf import CSRFError, CSRFProtect
from werkzeug.exceptions import HTTPException
from werkzeug.middleware.proxy_fix import ProxyFix

from portal.accounts.services import load_user_for_session
from portal.errors import too_large_message
from portal.listing import InvalidCursor, page_url
from portal.money import format_amount

csrf = CSRFProtect()
login_manager = LoginManager()
login_manager.login_view = "auth.login"
login_manager.login_message = "Please log in to see that page."
login_manager.login_message_category = "info"
login_manager.session_protection = "strong"
login_manager.user_loader(load_user_for_session)


def init_web(app: Flask) -> None:
    from portal.web.converters import install_converters

    # Before any blueprint: an id too large for a row, or a NUL in a name, is a 404 at the router.
    install_converters(app.url_map)
    if app.config.get("TRUSTED_PROXIES", 0) > 0:
        hops = app.config["TRUSTED_PROXIES"]
        # The client's address, scheme and host as the proxies saw them, so the audit log records
        # the real source address and redirects keep https; never more hops than are configured.
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops, x_host=hops)  # type: ignore[method-assign]
    csrf.init_app(app)
    login_manager.init_app(app)

    from portal.accounts.views import bp as accounts_bp
    from portal.audit.views import bp as audit_bp
    from portal.auth.two_factor_views import bp as two_factor_bp
    from portal.auth.views import bp as auth_bp
    from portal.catalog.views import bp as catalog_bp
    from portal.notices.views import bp as notices_bp
    from portal.web.views import bp as home_bp

    for blueprint in (auth_bp, two_factor_bp, home_bp, accounts_bp, catalog_bp, audit_bp, notices_bp):
        app.register_blueprint(blueprint)

    from portal.accounts.end_user_views import bp as end_users_bp
    from portal.accounts.people_views import bp as people_bp
    from portal.accounts.token_views import bp as tokens_bp
    from portal.orders.seat_views import bp as seats_bp
    from portal.orders.views import bp as orders_bp

    for blueprint in (orders_bp, seats_bp, end_users_bp, people_bp, tokens_bp):
        app.register_blueprint(blueprint)

    import provisioning

    # The provisioning console and true-ups (pages and the `trueup` commands).
    provisioning.init_app(app)

    from portal.reseller.web import init_reseller

    # The reseller console: client pages, the monthly bill review, the SPLA report and exports.
    init_reseller(app)

    from portal.api import bp as api_bp

    # The API authenticates with Bearer tokens, never cookies, so there is no CSRF to guard against.
    csrf.exempt(api_bp)
    app.register_blueprint(api_bp)

    import metering

    # Billing pages, Stripe's webhook (CSRF-exempt, through the CSRFProtect installed above), and
    # the billing/usage commands.
    metering.init_app(app)

    from portal.web.access_check import init_access_check
    from portal.web.limits import init_limits

    # After every blueprint: the limits are attached to the registered views by endpoint name.
    init_limits(app)
    # After the limiter's own check: a flood of bad tokens is limited before it is looked up.
    init_access_check(app)

    app.jinja_env.filters["money"] = format_amount
    app.register_error_handler(CSRFError, _csrf_error)
    app.register_error_handler(HTTPException, _http_error)
    # A page link with a broken or foreign cursor (the API answers its own JSON 400 first).
    app.register_error_handler(InvalidCursor, _invalid_cursor)
    app.jinja_env.globals["page_url"] = page_url

    from portal.web.database_outage import init_database_outage

    init_database_outage(app)

    from portal.web.headers import init_headers

    init_headers(app)


def _invalid_cursor(error: InvalidCursor) -> tuple[str, int]:
    return render_template(
        "error.html", code=400, title="This page link is not valid", message=error.message
    ), 400


def _csrf_error(error: CSRFError) -> tuple[str, int]:
    return render_template(
        "error.html",
        code=400,
        title="This form has expired",
        message="The page was open too long or was sent from elsewhere. Go back, reload it and try again.",
    ), 400


_TITLES = {
    400: ("Bad request", "The request could not be understood."),
    403: ("Not allowed", "Your account cannot do this."),
    404: ("Not found", "There is nothing here, or it is not yours to see."),
    405: ("Not allowed", "That page cannot be used this way."),
}


def _http_error(error: HTTPException) -> tuple[str, int] | HTTPException | Response:
    if error.code is None or error.code < 400:
        return error
    if request.path.startswith("/api/"):
        # Unknown API paths and wrong methods never reach the API blueprint's own handlers.
        from portal.api.errors import http_error_response

        return http_error_response(error)
    if error.code == 429:
        from portal.web.limits import rate_limited_message, retry_after_seconds

        page = render_template(
            "error.html", code=429, title="Too many requests", message=rate_limited_message()
        )
        return Response(page, 429, headers={"Retry-After": str(retry_after_seconds())})
    if error.code == 413:
        message = too_large_message(current_app.config.get("MAX_CONTENT_LENGTH"))
        return render_template("error.html", code=413, title="Too large", message=message), 413
    title, message = _TITLES.get(error.code, (error.name, error.description or ""))
    return render_template("error.html", code=error.code, title=title, message=message), error.code
