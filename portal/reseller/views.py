"""The reseller console's home page and each client's page (seats, people, invoices, activity, suspend)."""

from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, url_for
from sqlalchemy import select
from sqlalchemy.orm import joinedload
from werkzeug.wrappers import Response

from metering import (
    BillingPeriod,
    billing_account_of,
    billing_timezone,
    drafts_to_review,
    filing_status,
    last_months,
    list_invoices,
    monthly_figures,
    overdue_clients,
    unfiled_periods,
)
from portal.accounts.models import Client, ClientStatus, Role
from portal.accounts.services import get_client_by_ref, get_reseller
from portal.auth.access import RESELLER_ROLES, roles_required
from portal.db import db, utcnow
from portal.errors import NotFound
from portal.orders.models import Seat, SeatState
from portal.orders.queries import client_end_users, seat_counts_by_product
from portal.reseller.charts import Series, compact_money, line_chart
from portal.reseller.dashboard import client_count, failed_seat_count, recent_events, run_rate, seat_matrix
from portal.reseller.forms import ActionForm, SuspendForm
from portal.reseller.web import actor, error_page, is_admin, reseller_currency, stripe_configured
from portal.transactions import web_transaction
from portal.web.dashboard import month_so_far, recent_activity
from provisioning import resume_client, suspend_client

bp = Blueprint(
    "reseller", __name__, url_prefix="/reseller", static_folder="static", static_url_path="/console-static"
)

CHART_MONTHS = 12
_SHORT_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def _chart_labels(months: list[BillingPeriod]) -> list[str]:
    """ "Nov" under each point, and the year under the first month and every January."""
    return [
        f"{_SHORT_MONTHS[m.month - 1]}\n{m.year}"
        if index == 0 or m.month == 1
        else _SHORT_MONTHS[m.month - 1]
        for index, m in enumerate(months)
    ]


def render_home() -> str:
    """The reseller's home (``/reseller/``, the ``home.reseller`` page)."""
    tz = billing_timezone()
    now = utcnow()
    currency = reseller_currency()
    last = BillingPeriod.containing(now, tz).previous()
    months = last_months(last, CHART_MONTHS)
    figures = monthly_figures(months, tz, currency)
    labels = _chart_labels(months)
    money = compact_money(currency)
    charts = {
        "revenue": line_chart(
            "Revenue and licence cost",
            labels,
            [
                Series("Revenue", [f.revenue_minor for f in figures]),
                Series("Licence cost", [f.cost_minor for f in figures]),
            ],
            format_value=money,
        ),
        "margin": line_chart("Margin", labels, [Series("Margin", [f.margin_minor for f in figures])], money),
        "seats": line_chart("Seats billed", labels, [Series("Seats", [f.seats for f in figures])]),
    }
    reseller = get_reseller()
    # The reports owed since the installation began (at most a year back): each month needs one.
    first = months[0]
    if reseller is not None:
        first = max(first, BillingPeriod.containing(reseller.created_at, tz))
    return render_template(
        "reseller/home.html",
        currency=currency,
        figures=figures,
        charts=charts,
        run_rate=run_rate(now, currency),
        matrix=seat_matrix(),
        overdue=overdue_clients(),
        failed=failed_seat_count(),
        drafts=drafts_to_review(),
        spla=filing_status(last, tz, now),
        unfiled=unfiled_periods(first, last.previous()),
        client_count=client_count(),
        recent=recent_events(),
    )


def _client(ref: str) -> Client | None:
    try:
        return get_client_by_ref(ref)
    except NotFound:
        return None


def _render_client(
    client: Client, suspend_form: SuspendForm | None = None, status: int = 200
) -> tuple[str, int]:
    seats = list(
        db.session.scalars(
            select(Seat)
            .options(joinedload(Seat.product), joinedload(Seat.end_user))
            .where(Seat.client_id == client.id, Seat.state != SeatState.TERMINATED)
            .order_by(Seat.product_id, Seat.id)
        )
    )
    return render_template(
        "reseller/client.html",
        client=client,
        counts=seat_counts_by_product(client),
        seats=seats,
        end_users=client_end_users(client),
        invoices=list_invoices(client=client, include_drafts=True),
        account=billing_account_of(client),
        month=month_so_far(client),
        recent=recent_activity(client, limit=20),
        suspend_form=suspend_form or SuspendForm(formdata=None),
        action_form=ActionForm(formdata=None),
        can_suspend=is_admin(),
        stripe_ready=stripe_configured(),
        period_label=lambda text: BillingPeriod.parse(text).label,
    ), status


def _not_found() -> tuple[str, int]:
    return error_page(404, "Not found", "There is no client with this reference.")


@bp.route("/clients/<ref>")
@roles_required(*RESELLER_ROLES)
def client(ref: str) -> tuple[str, int]:
    found = _client(ref)
    if found is None:
        return _not_found()
    return _render_client(found)


@bp.route("/clients/<ref>/suspend", methods=["POST"])
@roles_required(Role.RESELLER_ADMIN)
def suspend(ref: str) -> Response | tuple[str, int]:
    found = _client(ref)
    if found is None:
        return _not_found()
    form = SuspendForm()
    if not form.validate_on_submit():
        return _render_client(found, suspend_form=form, status=422)
    if found.status is ClientStatus.SUSPENDED:
        flash(f"{found.name} is already suspended.", "info")
        return redirect(url_for("reseller.client", ref=found.ref))
    with web_transaction() as attempt:
        suspend_client(actor(), found, (form.reason.data or "").strip())
    if (error := attempt.error) is not None:
        flash(error.message, "error")
    else:
        flash(f"{found.name} is suspended: its seats are being suspended on the platforms.", "success")
    return redirect(url_for("reseller.client", ref=found.ref))


@bp.route("/clients/<ref>/resume", methods=["POST"])
@roles_required(Role.RESELLER_ADMIN)
def resume(ref: str) -> Response | tuple[str, int]:
    found = _client(ref)
    if found is None:
        return _not_found()
    if not ActionForm().validate_on_submit():
        return error_page(400, "This form has expired", "Go back, reload the page and try again.")
    if found.status is ClientStatus.ACTIVE:
        flash(f"{found.name} is not suspended.", "info")
        return redirect(url_for("reseller.client", ref=found.ref))
    with web_transaction() as attempt:
        resume_client(actor(), found)
    if (error := attempt.error) is not None:
        flash(error.message, "error")
    else:
        flash(f"{found.name} is active again: its seats are being resumed.", "success")
    return redirect(url_for("reseller.client", ref=found.ref))
