"""The reseller's provisioning console: the failed-provisioning queue and the attempt log."""

from __future__ import annotations

from collections.abc import Callable

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from werkzeug.wrappers import Response

from portal.accounts.models import Role
from portal.audit.services import Actor
from portal.auth.access import RESELLER_ROLES, current_portal_user, roles_required
from portal.db import db
from portal.orders.models import Seat
from portal.transactions import web_transaction
from provisioning.seats import cancel_seat, retry_seat
from provisioning.services import attempts_of, failed_seats, recent_attempts, removal_failing_since

bp = Blueprint("provisioning", __name__, url_prefix="/reseller/provisioning")


@bp.route("/")
@roles_required(*RESELLER_ROLES)
def index() -> str:
    failed = failed_seats()
    return render_template(
        "provisioning/index.html",
        failed=failed,
        still_authorized=removal_failing_since(failed),
        attempts=recent_attempts(limit=100),
        can_act=_can_act(),
    )


@bp.route("/seats/<int:seat_id>")
@roles_required(*RESELLER_ROLES)
def seat(seat_id: int) -> str:
    found = _seat(seat_id)
    return render_template(
        "provisioning/seat.html",
        seat=found,
        still_authorized=removal_failing_since([found]),
        attempts=attempts_of(found),
        can_act=_can_act(),
    )


def _can_act() -> bool:
    return current_portal_user().role is Role.RESELLER_ADMIN


# Retrying and cancelling change a client's seats: administrators only (staff change nothing on clients).
@bp.route("/seats/<int:seat_id>/retry", methods=["POST"])
@roles_required(Role.RESELLER_ADMIN)
def retry(seat_id: int) -> Response:
    return _act(seat_id, retry_seat, "Seat #{id} is being provisioned again.")


@bp.route("/seats/<int:seat_id>/cancel", methods=["POST"])
@roles_required(Role.RESELLER_ADMIN)
def cancel(seat_id: int) -> Response:
    return _act(
        seat_id, cancel_seat, "Seat #{id} is cancelled; anything made on the platform is being removed."
    )


def _act(seat_id: int, action: Callable[[Actor, Seat], Seat], done: str) -> Response:
    found = _seat(seat_id)
    with web_transaction() as attempt:
        action(Actor.for_user(current_portal_user()), found)
    if (error := attempt.error) is not None:
        flash(error.message, "error")
    else:
        flash(done.format(id=found.id), "success")
    return redirect(_back())


def _seat(seat_id: int) -> Seat:
    found = db.session.get(Seat, seat_id)
    if found is None:
        abort(404)
    return found


def _back() -> str:
    # Only our own pages: the form posts its page's path, never a full URL.
    target = request.form.get("next", "")
    if target.startswith("/reseller/provisioning") and "//" not in target:
        return target
    return url_for("provisioning.index")
