"""Client administrators: the people (end users) their seats are assigned to."""

from __future__ import annotations

from collections import defaultdict

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from sqlalchemy import select
from sqlalchemy.orm import joinedload
from werkzeug.wrappers import Response

from portal.accounts.end_user_forms import EndUserForm, RemoveEndUserForm
from portal.accounts.end_user_services import add_end_user, remove_end_user, update_end_user
from portal.accounts.models import Client, EndUser, Role
from portal.accounts.views import apply_service_error
from portal.audit.services import Actor
from portal.auth.access import current_client, current_portal_user, roles_required
from portal.db import db
from portal.errors import NotFound
from portal.listing import SortKey, clean_search, contains, keyset_page
from portal.orders.models import DesiredState, Seat
from portal.orders.queries import is_possible_id
from portal.orders.services import get_end_user_for_client
from portal.transactions import web_transaction

bp = Blueprint("end_users", __name__, url_prefix="/client/end-users")


def _end_user_or_404(client: Client, end_user_id: int) -> EndUser:
    if not is_possible_id(end_user_id):
        abort(404)
    try:
        return get_end_user_for_client(client, end_user_id)
    except NotFound:
        abort(404)


def _live_seats_by_end_user(client: Client) -> dict[int, list[Seat]]:
    """The seats each person holds, cancelled ones left out."""
    seats = db.session.scalars(
        select(Seat)
        .options(joinedload(Seat.product))
        .where(
            Seat.client_id == client.id,
            Seat.end_user_id.is_not(None),
            Seat.desired_state != DesiredState.TERMINATED,
        )
        .order_by(Seat.id)
    )
    by_person: dict[int, list[Seat]] = defaultdict(list)
    for seat in seats:
        if seat.end_user_id is not None:
            by_person[seat.end_user_id].append(seat)
    return by_person


END_USERS_PER_PAGE = 50
END_USER_KEYS = (SortKey(EndUser.name), SortKey(EndUser.id))


def _list_page(client: Client, form: EndUserForm, status: int = 200) -> tuple[str, int]:
    search = clean_search(request.args.get("q"))
    query = select(EndUser).where(EndUser.client_id == client.id)
    if search:
        query = query.where(contains(EndUser.search_text, search))
    page = keyset_page(
        query,
        END_USER_KEYS,
        lambda person: (person.name, person.id),
        list_name="end_users",
        cursor=request.args.get("cursor"),
        limit=END_USERS_PER_PAGE,
        scalars=True,
    )
    return render_template(
        "client/end_users.html",
        client=client,
        end_users=page.rows,
        page=page,
        search=search,
        seats_by_person=_live_seats_by_end_user(client),
        form=form,
    ), status


@bp.route("/", methods=["GET", "POST"])
@roles_required(Role.CLIENT_ADMIN)
def index() -> Response | tuple[str, int]:
    client = current_client()
    form = EndUserForm()
    if form.is_submitted():
        if form.validate():
            with web_transaction() as attempt:
                end_user = add_end_user(
                    Actor.for_user(current_portal_user()),
                    client,
                    form.name.data or "",
                    form.email.data or "",
                    form.extension.data,
                )
            if (error := attempt.error) is not None:
                apply_service_error(form, error)
            else:
                flash(f"{end_user.name} is added.", "success")
                return redirect(url_for("end_users.index"))
        return _list_page(client, form, 422)
    return _list_page(client, form)


@bp.route("/<int:end_user_id>/edit", methods=["GET", "POST"])
@roles_required(Role.CLIENT_ADMIN)
def edit(end_user_id: int) -> Response | tuple[str, int]:
    client = current_client()
    end_user = _end_user_or_404(client, end_user_id)
    form = EndUserForm(obj=end_user)
    form.submit.label.text = "Save"
    status = 200
    if form.is_submitted():
        if form.validate():
            with web_transaction() as attempt:
                update_end_user(
                    Actor.for_user(current_portal_user()),
                    end_user,
                    name=form.name.data or "",
                    email=form.email.data or "",
                    extension=form.extension.data,
                )
            if (error := attempt.error) is not None:
                apply_service_error(form, error)
            else:
                flash(f"{end_user.name} is saved.", "success")
                return redirect(url_for("end_users.index"))
        status = 422
    return render_template("client/end_user_edit.html", end_user=end_user, form=form), status


@bp.route("/<int:end_user_id>/remove", methods=["GET", "POST"])
@roles_required(Role.CLIENT_ADMIN)
def remove(end_user_id: int) -> Response | tuple[str, int]:
    client = current_client()
    end_user = _end_user_or_404(client, end_user_id)
    form = RemoveEndUserForm()
    status = 200
    if form.validate_on_submit():
        name = end_user.name
        with web_transaction() as attempt:
            remove_end_user(Actor.for_user(current_portal_user()), end_user)
        if (error := attempt.error) is not None:
            form.form_errors.append(error.message)
            status = error.http_status
        else:
            flash(f"{name} is removed.", "success")
            return redirect(url_for("end_users.index"))
    seats = _live_seats_by_end_user(client).get(end_user.id, [])
    return render_template("client/end_user_remove.html", end_user=end_user, seats=seats, form=form), status
