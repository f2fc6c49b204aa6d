"""Home pages: each role lands on its own."""

from __future__ import annotations

from flask import Blueprint, redirect, render_template, url_for
from sqlalchemy import func, select
from werkzeug.wrappers import Response

from portal.accounts.models import EndUser, Role
from portal.auth.access import (
    CLIENT_ROLES,
    RESELLER_ROLES,
    current_client,
    current_portal_user,
    roles_required,
    signed_in,
)
from portal.db import db
from portal.orders.queries import seat_counts_by_product, visible_seats
from portal.web.dashboard import month_so_far, recent_activity

bp = Blueprint("home", __name__)


@bp.route("/")
@signed_in
def index() -> Response:
    if current_portal_user().is_reseller:
        return redirect(url_for("home.reseller"))
    return redirect(url_for("home.client"))


@bp.route("/reseller/")
@roles_required(*RESELLER_ROLES)
def reseller() -> str:
    from portal.reseller.views import render_home

    return render_home()


@bp.route("/client/")
@roles_required(*CLIENT_ROLES)
def client() -> str:
    user = current_portal_user()
    tenant = current_client()
    # A client user sees only the seats assigned to them (matched by their e-mail / UPN).
    seats = visible_seats(user, tenant, include_cancelled=False)
    if user.role is not Role.CLIENT_ADMIN:
        return render_template("home/client.html", client=tenant, seats=seats, is_admin=False)
    end_user_count = db.session.scalar(select(func.count(EndUser.id)).where(EndUser.client_id == tenant.id))
    return render_template(
        "home/client.html",
        client=tenant,
        seats=seats,
        is_admin=True,
        counts=seat_counts_by_product(tenant),
        end_user_count=end_user_count,
        month=month_so_far(tenant),
        recent=recent_activity(tenant),
    )
