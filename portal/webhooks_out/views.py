"""The reseller console's webhook pages: endpoints, their delivery log, test and redeliver buttons.

Only a ``reseller_admin`` sees and changes them: an endpoint's secret signs what Seatmeter says
about every client, and a URL decides where that goes.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Flask, flash, redirect, render_template, url_for
from flask_login import current_user
from sqlalchemy.exc import SQLAlchemyError
from werkzeug.wrappers import Response

from portal.accounts.models import Role
from portal.audit.services import Actor
from portal.auth.access import current_portal_user, roles_required
from portal.errors import NotFound
from portal.transactions import web_transaction
from portal.webhooks_out.forms import EndpointActionForm, EndpointForm
from portal.webhooks_out.models import WebhookEndpoint
from portal.webhooks_out.services import (
    EVENT_TYPES,
    attempts_of,
    create_endpoint,
    disable_endpoint,
    disabled_by_failures,
    enable_endpoint,
    get_delivery,
    get_endpoint,
    list_endpoints,
    recent_deliveries,
    redeliver,
    rotate_secret,
    send_test_event,
    signing_secret,
    update_endpoint,
)

bp = Blueprint("webhooks", __name__, url_prefix="/reseller/webhooks")

ADMIN = Role.RESELLER_ADMIN


def init_webhooks(app: Flask) -> None:
    app.register_blueprint(bp)


@bp.app_context_processor
def _webhook_notice() -> dict[str, Any]:
    """The console's banner: endpoints that a day of failed deliveries turned off (admins only)."""

    def endpoints_disabled_by_failures() -> list[WebhookEndpoint]:
        if not current_user.is_authenticated or current_user.role is not ADMIN:
            return []
        try:
            return disabled_by_failures()
        except SQLAlchemyError:
            # The page is an error page about the database itself: it must still render.
            return []

    return {"webhooks_disabled_by_failures": endpoints_disabled_by_failures}


def _actor() -> Actor:
    return Actor.for_user(current_portal_user())


def _endpoint_or_404(endpoint_id: int) -> WebhookEndpoint | None:
    try:
        return get_endpoint(endpoint_id)
    except NotFound:
        return None


def _not_found() -> tuple[str, int]:
    message = "There is no webhook endpoint with this number."
    return render_template("error.html", code=404, title="Not found", message=message), 404


@bp.route("/", methods=["GET", "POST"])
@roles_required(ADMIN)
def index() -> Response | tuple[str, int]:
    form = EndpointForm()
    status = 200
    if form.is_submitted():
        if form.validate():
            with web_transaction() as attempt:
                endpoint = create_endpoint(_actor(), form.settings())
            if attempt.error is None:
                flash("The endpoint is added. Its signing secret is shown below.", "success")
                return redirect(url_for("webhooks.endpoint", endpoint_id=endpoint.id))
            form.url.errors = [*form.url.errors, attempt.error.fields.get("url", attempt.error.message)]
        status = 422
    return render_template(
        "webhooks/index.html", form=form, endpoints=list_endpoints(), events=EVENT_TYPES
    ), status


def _render_endpoint(endpoint: WebhookEndpoint, form: EndpointForm | None = None, status: int = 200) -> Any:
    deliveries = recent_deliveries(endpoint)
    return render_template(
        "webhooks/endpoint.html",
        endpoint=endpoint,
        form=form or EndpointForm(formdata=None, obj=endpoint),
        action_form=EndpointActionForm(formdata=None),
        secret=signing_secret(endpoint),
        deliveries=[(delivery, attempts_of(delivery)) for delivery in deliveries],
    ), status


@bp.route("/<int:endpoint_id>", methods=["GET", "POST"])
@roles_required(ADMIN)
def endpoint(endpoint_id: int) -> Any:
    found = _endpoint_or_404(endpoint_id)
    if found is None:
        return _not_found()
    form = EndpointForm(obj=found)
    if not form.is_submitted():
        return _render_endpoint(found)
    if form.validate():
        with web_transaction() as attempt:
            update_endpoint(_actor(), found, form.settings())
        if attempt.error is None:
            flash("The endpoint is saved.", "success")
            return redirect(url_for("webhooks.endpoint", endpoint_id=found.id))
        form.url.errors = [*form.url.errors, attempt.error.fields.get("url", attempt.error.message)]
    return _render_endpoint(found, form, 422)


def _button(endpoint_id: int, change: Any, done: str) -> Any:
    """A POST button on an endpoint: run ``change(endpoint)`` in one transaction, say how it went."""
    found = _endpoint_or_404(endpoint_id)
    if found is None:
        return _not_found()
    if not EndpointActionForm().validate_on_submit():
        message = "Go back, reload the page and try again."
        return render_template("error.html", code=400, title="This form has expired", message=message), 400
    with web_transaction() as attempt:
        change(found)
    if attempt.error is not None:
        flash(attempt.error.message, "error")
    else:
        flash(done, "success")
    return redirect(url_for("webhooks.endpoint", endpoint_id=endpoint_id))


@bp.route("/<int:endpoint_id>/disable", methods=["POST"])
@roles_required(ADMIN)
def disable(endpoint_id: int) -> Any:
    return _button(
        endpoint_id,
        lambda found: disable_endpoint(_actor(), found, f"Disabled by {current_portal_user().name}."),
        "The endpoint is disabled: nothing is sent to it until it is enabled again.",
    )


@bp.route("/<int:endpoint_id>/enable", methods=["POST"])
@roles_required(ADMIN)
def enable(endpoint_id: int) -> Any:
    return _button(
        endpoint_id,
        lambda found: enable_endpoint(_actor(), found),
        "The endpoint is enabled. Redeliver from the log below whatever it missed.",
    )


@bp.route("/<int:endpoint_id>/test", methods=["POST"])
@roles_required(ADMIN)
def test(endpoint_id: int) -> Any:
    return _button(
        endpoint_id,
        lambda found: send_test_event(_actor(), found),
        "A test event is on its way; reload this page in a moment to see how it went.",
    )


@bp.route("/<int:endpoint_id>/rotate-secret", methods=["POST"])
@roles_required(ADMIN)
def rotate(endpoint_id: int) -> Any:
    return _button(
        endpoint_id,
        lambda found: rotate_secret(_actor(), found),
        "The endpoint has a new signing secret: give it to the receiver, whose old one no longer verifies.",
    )


@bp.route("/<int:endpoint_id>/deliveries/<int:delivery_id>/redeliver", methods=["POST"])
@roles_required(ADMIN)
def redeliver_one(endpoint_id: int, delivery_id: int) -> Any:
    return _button(
        endpoint_id,
        lambda found: redeliver(_actor(), get_delivery(found, delivery_id)),
        "The event is being sent again, with the same webhook-id.",
    )
