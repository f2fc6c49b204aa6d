"""Reseller: clients. Client administrators: their portal users and invitations."""

from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_wtf import FlaskForm
from sqlalchemy import func, select
from werkzeug.wrappers import Response

from portal.accounts.forms import ClientBillingForm, InviteUserForm, NewClientForm
from portal.accounts.models import Client, Role
from portal.accounts.people_views import people_page
from portal.accounts.profile_services import update_client_billing
from portal.accounts.services import create_client, invite_user
from portal.audit.services import Actor
from portal.auth.access import RESELLER_ROLES, current_client, current_portal_user, roles_required
from portal.errors import ServiceError
from portal.listing import SortKey, clean_search, contains, keyset_page
from portal.orders.models import Seat, SeatState
from portal.transactions import web_transaction

bp = Blueprint("accounts", __name__)
CLIENTS_PER_PAGE = 50
CLIENT_KEYS = (SortKey(Client.name), SortKey(Client.id))


def apply_service_error(form: FlaskForm, error: ServiceError) -> None:
    """Show a service's complaint next to the field it is about, or above the form."""
    placed = False
    for name, message in error.fields.items():
        field = getattr(form, name, None)
        if field is not None:
            field.errors = [*field.errors, message]
            placed = True
    if not placed:
        form.form_errors.append(error.message)


@bp.route("/reseller/clients", methods=["GET", "POST"])
@roles_required(*RESELLER_ROLES, to_change=(Role.RESELLER_ADMIN,))
def clients() -> str | Response:
    user = current_portal_user()
    form = NewClientForm()
    if request.method == "POST" and form.validate_on_submit():
        actor = Actor.for_user(user)
        with web_transaction() as attempt:
            client = create_client(actor, form.ref.data or "", form.name.data or "", form.billing_email.data)
            form_email = form.admin_email.data or ""
            invite_user(actor, form_email, form.admin_name.data or "", Role.CLIENT_ADMIN, client)
        if (error := attempt.error) is not None:
            apply_service_error(form, error)
        else:
            flash(f"Client {client.name} created; {form_email} is invited as its administrator.", "success")
            return redirect(url_for("accounts.clients"))
    search = clean_search(request.args.get("q"))
    active_seats = (
        select(Seat.client_id, func.count(Seat.id).label("seats"))
        .where(Seat.state == SeatState.ACTIVE)
        .group_by(Seat.client_id)
        .subquery()
    )
    query = select(Client, func.coalesce(active_seats.c.seats, 0)).outerjoin(
        active_seats, active_seats.c.client_id == Client.id
    )
    if search:
        query = query.where(contains(Client.search_text, search))
    page = keyset_page(
        query,
        CLIENT_KEYS,
        lambda row: (row[0].name, row[0].id),
        list_name="clients",
        cursor=request.args.get("cursor"),
        limit=CLIENTS_PER_PAGE,
    )
    return render_template(
        "accounts/clients.html",
        rows=page.rows,
        page=page,
        form=form,
        search=search,
        can_edit=user.role is Role.RESELLER_ADMIN,
    )


@bp.route("/client/users", methods=["GET", "POST"])
@roles_required(Role.CLIENT_ADMIN)
def client_users_page() -> str | Response | tuple[str, int]:
    client = current_client()
    form = InviteUserForm()
    if form.is_submitted():
        if not form.validate():
            return people_page(client, form)
        user = current_portal_user()
        with web_transaction() as attempt:
            invite_user(
                Actor.for_user(user),
                form.email.data or "",
                form.name.data or "",
                Role(form.role.data),
                client,
            )
        if (error := attempt.error) is not None:
            apply_service_error(form, error)
            return people_page(client, form)
        flash(f"Invitation sent to {form.email.data}.", "success")
        return redirect(url_for("accounts.client_users_page"))
    return people_page(client)


@bp.route("/client/billing-details", methods=["GET", "POST"])
@roles_required(Role.CLIENT_ADMIN)
def billing_details() -> str | Response | tuple[str, int]:
    """Where the client's invoices go and the buyer block they print (the reseller can edit it too)."""
    client = current_client()
    form = ClientBillingForm(obj=client if request.method == "GET" else None)
    if request.method == "POST" and form.validate_on_submit():
        with web_transaction() as attempt:
            update_client_billing(
                Actor.for_user(current_portal_user()),
                client,
                form.billing_email.data,
                form.extra_billing_emails.data,
                form.billing_address.data,
                form.tax_id.data,
            )
        if (error := attempt.error) is None:
            flash("Billing details saved: your next invoice uses them.", "success")
            return redirect(url_for("billing.index"))
        apply_service_error(form, error)
    status = 422 if request.method == "POST" else 200
    return render_template("accounts/billing_details.html", client=client, form=form), status
