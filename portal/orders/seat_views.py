"""The client's seats: list and detail with live state, and assign / unassign / cancel / retry.

Client users see their own seats read-only; every change is the client administrators' and goes
through the provisioning services, which refuse what the seat's state does not allow (Conflict).
"""

from __future__ import annotations

from collections.abc import Callable

from flask import (
    Blueprint,
    abort,
    flash,
    jsonify,
    make_response,
    redirect,
    render_template,
    request,
    url_for,
)
from flask.blueprints import BlueprintSetupState
from werkzeug.wrappers import Response

from portal.accounts.models import Client, Role
from portal.audit.services import Actor
from portal.auth.access import CLIENT_ROLES, current_client, current_portal_user, roles_required
from portal.errors import NotFound
from portal.listing import clean_search
from portal.orders.forms import AssignSeatForm, SeatActionForm, end_user_choices
from portal.orders.models import DesiredState, Seat, SeatState
from portal.orders.queries import client_end_users, is_possible_id, seat_page, visible_seat, visible_seats
from portal.orders.seat_status import STATE_LABELS, bills_while_unassigned, seat_status
from portal.orders.services import get_end_user_for_client, get_seat_for_client
from portal.transactions import web_transaction
from provisioning import (
    assign_seat,
    cancel_seat,
    has_secret,
    password_reset_pending,
    phone_sign_in,
    removal_failing_since,
    reset_sip_password,
    retry_seat,
    reveal_seat_secret,
    unassign_seat,
)

bp = Blueprint("seats", __name__, url_prefix="/client/seats")

# The most seats one live-update request reports on; a page never shows more than this at once.
MAX_STATE_IDS = 1000
SEATS_PER_PAGE = 50


# Every page that shows seats words their states the same way (dashboard, orders, seats).
bp.add_app_template_global(seat_status, "seat_status")


@bp.record_once
def _share_state_labels(state: BlueprintSetupState) -> None:
    state.app.jinja_env.globals["state_labels"] = STATE_LABELS


def _seat_or_404(seat_id: int) -> Seat:
    seat = visible_seat(current_portal_user(), current_client(), seat_id)
    if seat is None:
        abort(404)
    return seat


def _assign_form(client: Client, seat: Seat, *, submitted: bool) -> AssignSeatForm:
    form = AssignSeatForm() if submitted else AssignSeatForm(formdata=None, end_user=seat.end_user_id or 0)
    form.end_user.choices = [(0, "Choose a person…"), *end_user_choices(client_end_users(client))]
    return form


@bp.route("/")
@roles_required(*CLIENT_ROLES)
def index() -> str:
    client = current_client()
    include_cancelled = request.args.get("show") == "all"
    search = clean_search(request.args.get("q"))
    page = seat_page(
        current_portal_user(),
        client,
        include_cancelled=include_cancelled,
        search=search,
        cursor=request.args.get("cursor"),
        limit=SEATS_PER_PAGE,
    )
    return render_template(
        "client/seats.html", seats=page.rows, page=page, search=search, include_cancelled=include_cancelled
    )


def _detail_page(seat: Seat, assign_form: AssignSeatForm | None = None, status: int = 200) -> tuple[str, int]:
    is_admin = current_portal_user().role is Role.CLIENT_ADMIN
    if is_admin and assign_form is None:
        assign_form = _assign_form(current_client(), seat, submitted=False)
    return render_template(
        "client/seat_detail.html",
        seat=seat,
        is_admin=is_admin,
        assign_form=assign_form,
        action_form=SeatActionForm(formdata=None),
        can_assign=seat.desired_state is not DesiredState.TERMINATED,
        can_cancel=seat.desired_state is not DesiredState.TERMINATED,
        can_retry=seat.state is SeatState.FAILED and seat.desired_state is not DesiredState.TERMINATED,
        password_waiting=is_admin and has_secret(seat),
        phone=phone_sign_in(seat),
        reset_pending=password_reset_pending(seat),
        can_reset_password=is_admin
        and seat.state is SeatState.ACTIVE
        and seat.desired_state is DesiredState.ACTIVE
        and phone_sign_in(seat) is not None,
        still_authorized_since=removal_failing_since([seat]).get(seat.id),
        bills_unassigned=bills_while_unassigned(seat.product),
    ), status


@bp.route("/<int:seat_id>")
@roles_required(*CLIENT_ROLES)
def detail(seat_id: int) -> tuple[str, int]:
    return _detail_page(_seat_or_404(seat_id))


def _admin_seat_or_404(seat_id: int) -> Seat:
    if not is_possible_id(seat_id):
        abort(404)
    try:
        return get_seat_for_client(current_client(), seat_id)
    except NotFound:
        abort(404)


@bp.route("/<int:seat_id>/assign", methods=["POST"])
@roles_required(Role.CLIENT_ADMIN)
def assign(seat_id: int) -> Response | tuple[str, int]:
    client = current_client()
    seat = _admin_seat_or_404(seat_id)
    form = _assign_form(client, seat, submitted=True)
    if not form.validate() or not form.end_user.data:
        if not form.end_user.errors:
            form.end_user.errors = ["Choose a person."]
        return _detail_page(seat, form, 422)
    person = get_end_user_for_client(client, form.end_user.data)
    before = seat.end_user.name if seat.end_user is not None else None
    with web_transaction() as attempt:
        assign_seat(Actor.for_user(current_portal_user()), seat, person)
    if (error := attempt.error) is not None:
        form.end_user.errors = [error.fields.get("end_user") or error.message]
        return _detail_page(_admin_seat_or_404(seat_id), form, error.http_status)
    if before and before != person.name:
        flash(f"Seat #{seat.id} moves from {before} to {person.name}.", "success")
    else:
        flash(f"Seat #{seat.id} is assigned to {person.name}.", "success")
    return redirect(url_for("seats.detail", seat_id=seat.id))


def _seat_action(
    seat_id: int, action: Callable[[Actor, Seat], Seat], done: str
) -> Response | tuple[str, int]:
    seat = _admin_seat_or_404(seat_id)
    form = SeatActionForm()
    if not form.validate_on_submit():
        abort(400)
    with web_transaction() as attempt:
        action(Actor.for_user(current_portal_user()), seat)
    if (error := attempt.error) is not None:
        flash(error.message, "error")
        return _detail_page(_admin_seat_or_404(seat_id), status=error.http_status)
    flash(done.format(id=seat.id), "success")
    return redirect(url_for("seats.detail", seat_id=seat.id))


@bp.route("/<int:seat_id>/phone-password", methods=["POST"])
@roles_required(Role.CLIENT_ADMIN)
def phone_password(seat_id: int) -> Response | tuple[str, int]:
    """Show a VoIP seat's generated SIP password, once: Seatmeter forgets it as it shows it."""
    seat = _admin_seat_or_404(seat_id)
    if not SeatActionForm().validate_on_submit():
        abort(400)
    with web_transaction(renders=()):
        password = reveal_seat_secret(Actor.for_user(current_portal_user()), seat)
    if password is None:
        flash("The password was already shown once, or the phone is not set up yet.", "error")
        return redirect(url_for("seats.detail", seat_id=seat.id))
    response = make_response(
        render_template("client/phone_password.html", seat=seat, phone=phone_sign_in(seat), password=password)
    )
    # The page holds a secret: never keep it in a cache or the browser's history.
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.route("/<int:seat_id>/reset-phone-password", methods=["POST"])
@roles_required(Role.CLIENT_ADMIN)
def reset_phone_password(seat_id: int) -> Response | tuple[str, int]:
    return _seat_action(
        seat_id,
        reset_sip_password,
        "Seat #{id} gets a new phone password. Reload this page in a moment to show it once; "
        "the old password stops working as soon as the new one is set.",
    )


@bp.route("/<int:seat_id>/unassign", methods=["POST"])
@roles_required(Role.CLIENT_ADMIN)
def unassign(seat_id: int) -> Response | tuple[str, int]:
    return _seat_action(seat_id, unassign_seat, "Seat #{id} is unassigned.")


@bp.route("/<int:seat_id>/cancel", methods=["POST"])
@roles_required(Role.CLIENT_ADMIN)
def cancel(seat_id: int) -> Response | tuple[str, int]:
    return _seat_action(seat_id, cancel_seat, "Seat #{id} is being cancelled.")


@bp.route("/<int:seat_id>/retry", methods=["POST"])
@roles_required(Role.CLIENT_ADMIN)
def retry(seat_id: int) -> Response | tuple[str, int]:
    return _seat_action(seat_id, retry_seat, "Seat #{id} is being set up again.")


def _requested_ids() -> list[int] | None:
    raw = request.args.get("ids")
    if raw is None:
        return None
    ids = [int(part) for part in raw.split(",") if part.strip().isdigit() and len(part.strip()) <= 10]
    return ids[:MAX_STATE_IDS]


@bp.route("/states.json")
@roles_required(*CLIENT_ROLES)
def states() -> Response:
    """The live state of the seats on the page, for the browser to refresh them without a reload."""
    seats = visible_seats(current_portal_user(), current_client(), ids=_requested_ids())
    response = jsonify(seats=[seat_status(seat).as_json() for seat in seats[:MAX_STATE_IDS]])
    response.headers["Cache-Control"] = "no-store"
    return response
