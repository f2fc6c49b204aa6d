"""The console's QuickBooks page: connect the company (OAuth 2.0), pick the income account, see what was
sent and why something was not, and "sync again".

Both reseller roles see the page; only a reseller_admin connects, changes the settings or syncs again.
"""

from __future__ import annotations

import hmac

from flask import Blueprint, flash, redirect, render_template, request, session, url_for
from werkzeug.wrappers import Response

from metering import (
    Account,
    ConnectionState,
    QuickBooksUnavailable,
    QuickBooksUnreachable,
    RecordKind,
    SyncStatus,
    authorization_url,
    choose_sync_settings,
    complete_connection,
    current_connection,
    income_accounts,
    parse_period,
    quickbooks_settings,
    retry_failed,
    sync_overview,
)
from portal.accounts.models import Role
from portal.auth.access import RESELLER_ROLES, roles_required
from portal.db import utcnow
from portal.reseller.forms import ActionForm
from portal.reseller.quickbooks_forms import SyncSettingsForm
from portal.reseller.web import actor, error_page, is_admin
from portal.transactions import web_transaction

bp = Blueprint("quickbooks", __name__, url_prefix="/reseller/quickbooks")

ADMIN = (Role.RESELLER_ADMIN,)
STATE_KEY = "quickbooks_oauth_state"
KIND_LABELS = {
    RecordKind.INVOICE: "Invoice",
    RecordKind.CREDIT_MEMO: "Credit memo",
    RecordKind.PAYMENT: "Payment",
    RecordKind.CUSTOMER: "Customer",
    RecordKind.ITEM: "Item",
}


def _accounts() -> tuple[list[Account], str | None]:
    connection = current_connection()
    if connection is None or connection.state is not ConnectionState.CONNECTED or not is_admin():
        return [], None
    with web_transaction(renders=(QuickBooksUnavailable,)) as attempt:
        accounts = income_accounts(connection, utcnow())
    if attempt.error is not None:
        return [], attempt.error.message
    return accounts, None


def _render(form: SyncSettingsForm | None = None, status: int = 200) -> tuple[str, int]:
    overview = sync_overview()
    accounts, accounts_problem = _accounts()
    connection = overview.connection
    if form is None:
        form = SyncSettingsForm()
        if connection is not None:
            form.account.data = connection.income_account_id
            form.first_period.data = connection.first_period
    form.account.choices = [("", "— pick one —")] + [(account.id, account.name) for account in accounts]
    return (
        render_template(
            "reseller/quickbooks.html",
            overview=overview,
            connection=connection,
            form=form,
            action=ActionForm(),
            accounts_problem=accounts_problem,
            admin=is_admin(),
            kind_labels=KIND_LABELS,
            statuses=list(SyncStatus),
        ),
        status,
    )


@bp.route("/")
@roles_required(*RESELLER_ROLES)
def index() -> tuple[str, int]:
    return _render()


@bp.route("/connect", methods=["POST"])
@roles_required(*ADMIN)
def connect() -> Response | tuple[str, int]:
    if not ActionForm().validate_on_submit():
        return error_page(400, "This form has expired", "Go back, reload the page and try again.")
    settings = quickbooks_settings()
    if settings is None:
        flash("QuickBooks is not configured yet: see the settings listed on this page.", "error")
        return redirect(url_for("quickbooks.index"))
    try:
        url, state = authorization_url(settings)
    except QuickBooksUnreachable as error:
        flash(error.message, "error")
        return redirect(url_for("quickbooks.index"))
    session[STATE_KEY] = state
    return redirect(url)


@bp.route("/callback")
@roles_required(*ADMIN)
def callback() -> Response | tuple[str, int]:
    expected = session.pop(STATE_KEY, None)
    state = request.args.get("state", "")
    if not expected or not hmac.compare_digest(str(expected), state):
        return error_page(
            400,
            "This sign-in link is not ours",
            "QuickBooks sent back a sign-in this browser did not start (or started too long ago). "
            "Start connecting again from the QuickBooks page.",
        )
    if request.args.get("error"):
        flash("QuickBooks was not connected: the sign-in was cancelled or refused in QuickBooks.", "error")
        return redirect(url_for("quickbooks.index"))
    settings = quickbooks_settings()
    if settings is None:
        flash("QuickBooks is not configured yet: see the settings listed on this page.", "error")
        return redirect(url_for("quickbooks.index"))
    with web_transaction() as attempt:
        complete_connection(
            actor(), settings, request.args.get("code", ""), request.args.get("realmId", ""), utcnow()
        )
    if attempt.error is not None:
        flash(attempt.error.message, "error")
    else:
        flash(
            "QuickBooks is connected. Pick the income account below; the sync starts once it is set.",
            "success",
        )
    return redirect(url_for("quickbooks.index"))


@bp.route("/settings", methods=["POST"])
@roles_required(*ADMIN)
def settings() -> Response | tuple[str, int]:
    form = SyncSettingsForm()
    connection = current_connection()
    if connection is None:
        flash("Connect QuickBooks first.", "error")
        return redirect(url_for("quickbooks.index"))
    if not form.validate_on_submit():
        return _render(form, 422)
    accounts, problem = _accounts()
    chosen = next((account for account in accounts if account.id == form.account.data), None)
    if chosen is None:
        form.account.errors = [problem or "Pick one of QuickBooks' income accounts."]
        return _render(form, 422)
    with web_transaction() as attempt:
        choose_sync_settings(actor(), connection, chosen, parse_period(form.first_period.data or ""))
    if (error := attempt.error) is not None:
        form.account.errors = [error.fields.get("account", error.message)]
        return _render(form, 422)
    flash(f"Products post to “{chosen.name}”. The sync runs in the background.", "success")
    return redirect(url_for("quickbooks.index"))


@bp.route("/sync", methods=["POST"])
@roles_required(*ADMIN)
def sync_again() -> Response | tuple[str, int]:
    if not ActionForm().validate_on_submit():
        return error_page(400, "This form has expired", "Go back, reload the page and try again.")
    if current_connection() is None:
        flash("Connect QuickBooks first.", "error")
        return redirect(url_for("quickbooks.index"))
    with web_transaction() as attempt:
        count = retry_failed(actor())
    if attempt.error is not None:
        flash(attempt.error.message, "error")
    else:
        again = f" {count} failed document{'s' if count != 1 else ''} will be tried again." if count else ""
        flash(f"The sync runs in the background.{again} Reload this page to see how it went.", "success")
    return redirect(url_for("quickbooks.index"))
