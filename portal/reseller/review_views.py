"""The monthly bill review: every client's draft, what changed, what looks odd; hold, approve, approve all."""

from __future__ import annotations

from flask import Blueprint, flash, jsonify, redirect, render_template, request, url_for
from werkzeug.wrappers import Response

from metering import (
    Bill,
    BillingPeriod,
    Invoice,
    MonthReview,
    approve_invoice,
    approve_period,
    billing_timezone,
    close_refusal,
    close_run_counts,
    close_run_json,
    close_run_progress,
    get_period_invoice,
    hold_invoice,
    invoice_balance,
    latest_close_run,
    line_details,
    month_review,
    newest_period,
    release_invoice,
    start_close_run,
)
from portal.auth.access import RESELLER_ROLES, roles_required
from portal.db import db, utcnow
from portal.errors import NotFound
from portal.reseller.forms import ActionForm, HoldForm, PeriodForm, ReviewFilterForm
from portal.reseller.web import actor, error_page, period_from_url, sent_for_payment_note, stripe_configured
from portal.transactions import web_transaction

bp = Blueprint("review", __name__, url_prefix="/reseller/review")

PER_PAGE = 50


def _hold_form(invoice_id: int, formdata: object | None = None) -> HoldForm:
    # One form per bill on the page: a prefix keeps the fields' ids apart.
    if formdata is None:
        return HoldForm(formdata=None, prefix=f"hold-{invoice_id}")
    return HoldForm(prefix=f"hold-{invoice_id}")


@bp.route("/")
@roles_required(*RESELLER_ROLES)
def index() -> Response | tuple[str, int]:
    """The month asked for in ``?period=``, else the newest month with bills."""
    if "period" in request.args:
        form = PeriodForm(request.args)
        if not form.validate():
            return render_template("reseller/period_pick.html", form=form, title="Bill review"), 422
        return redirect(url_for("review.month", period=form.period.data.strip()))
    newest = newest_period(include_drafts=True)
    if newest is None:
        newest = BillingPeriod.containing(utcnow(), billing_timezone()).previous()
    return redirect(url_for("review.month", period=str(newest)))


def _matches(bill: Bill, show: str, search: str) -> bool:
    if search and search not in bill.client.name.lower() and search not in bill.client.ref:
        return False
    if show == "drafts":
        return bill.is_draft and not bill.held
    if show == "flagged":
        return bool(bill.flags)
    if show == "held":
        return bill.held
    if show == "issued":
        return not bill.is_draft
    return True


def _render_month(
    review: MonthReview, hold_forms: dict[int, HoldForm] | None = None, status: int = 200
) -> tuple[str, int]:
    filters = ReviewFilterForm(request.args)
    valid = filters.validate()
    show = filters.show.data if valid else "all"
    search = (filters.q.data or "").strip().lower() if valid else ""
    shown = [bill for bill in review.bills if _matches(bill, show, search)]
    try:
        page = max(1, int(request.args.get("page", "1")))
    except ValueError:
        page = 1
    pages = max(1, -(-len(shown) // PER_PAGE))
    page = min(page, pages)
    bills = shown[(page - 1) * PER_PAGE : page * PER_PAGE]
    hold_forms = hold_forms or {}
    for bill in bills:
        hold_forms.setdefault(bill.invoice.id, _hold_form(bill.invoice.id))
    return render_template(
        "reseller/review.html",
        review=review,
        bills=bills,
        shown=len(shown),
        page=page,
        pages=pages,
        filters=filters,
        hold_forms=hold_forms,
        action_form=ActionForm(formdata=None),
        period_form=PeriodForm(formdata=None, period=str(review.period)),
        stripe_ready=stripe_configured(),
        period_label=lambda text: BillingPeriod.parse(text).label,
        **_close_context(review.period),
    ), status


def _close_context(month_: BillingPeriod) -> dict[str, object]:
    """The "Close <month>" panel: the latest run started here, and whether a new one may start now."""
    run = latest_close_run(month_)
    return {
        "close_run": run,
        "close_progress": close_run_progress(run) if run is not None else None,
        "close_counts": close_run_counts(run) if run is not None else [],
        "close_refusal": close_refusal(month_, billing_timezone(), utcnow()),
    }


@bp.route("/<period>")
@roles_required(*RESELLER_ROLES)
def month(period: str) -> tuple[str, int]:
    return _render_month(month_review(period_from_url(period), billing_timezone()))


@bp.route("/<period>/invoices/<int:invoice_id>")
@roles_required(*RESELLER_ROLES)
def bill(period: str, invoice_id: int) -> tuple[str, int]:
    month_ = period_from_url(period)
    try:
        invoice = get_period_invoice(month_, invoice_id)
    except NotFound:
        return error_page(404, "Not found", f"No invoice #{invoice_id} for {month_.label}.")
    return _render_bill(month_, invoice)


def _render_bill(
    month_: BillingPeriod, invoice: Invoice, hold_form: HoldForm | None = None, status: int = 200
) -> tuple[str, int]:
    tz = billing_timezone()
    review = month_review(month_, tz, client=invoice.client)
    (summary,) = [bill for bill in review.bills if bill.invoice.id == invoice.id]
    return render_template(
        "reseller/bill.html",
        review=review,
        bill=summary,
        details=line_details(summary.invoice, tz),
        balance=invoice_balance(invoice),
        hold_form=hold_form or _hold_form(invoice.id),
        action_form=ActionForm(formdata=None),
        stripe_ready=stripe_configured(),
        period_label=lambda text: BillingPeriod.parse(text).label,
    ), status


def _back(month_: BillingPeriod, invoice_id: int) -> Response:
    # The form says which page it was on; only these two are ever sent back to.
    if request.form.get("next") == "bill":
        return redirect(url_for("review.bill", period=str(month_), invoice_id=invoice_id))
    return redirect(url_for("review.month", period=str(month_)) + f"#invoice-{invoice_id}")


def _expired() -> tuple[str, int]:
    return error_page(400, "This form has expired", "Go back, reload the page and try again.")


@bp.route("/<period>/invoices/<int:invoice_id>/hold", methods=["POST"])
@roles_required(*RESELLER_ROLES)
def hold(period: str, invoice_id: int) -> Response | tuple[str, int]:
    month_ = period_from_url(period)
    try:
        invoice = get_period_invoice(month_, invoice_id, lock=True)
    except NotFound:
        return error_page(404, "Not found", f"No invoice #{invoice_id} for {month_.label}.")
    form = _hold_form(invoice_id, request.form)
    if not form.validate_on_submit():
        db.session.rollback()
        if request.form.get("next") == "bill":
            return _render_bill(month_, invoice, hold_form=form, status=422)
        review = month_review(month_, billing_timezone())
        return _render_month(review, hold_forms={invoice_id: form}, status=422)
    with web_transaction() as attempt:
        hold_invoice(actor(), invoice, form.reason.data or "")
    if (error := attempt.error) is not None:
        flash(error.message, "error")
    else:
        flash(
            f"{invoice.client.name}'s bill is held: “approve all” skips it until it is released.", "success"
        )
    return _back(month_, invoice_id)


def _simple_action(period: str, invoice_id: int, action: str) -> Response | tuple[str, int]:
    month_ = period_from_url(period)
    try:
        invoice = get_period_invoice(month_, invoice_id, lock=True)
    except NotFound:
        return error_page(404, "Not found", f"No invoice #{invoice_id} for {month_.label}.")
    if not ActionForm().validate_on_submit():
        return _expired()
    with web_transaction() as attempt:
        if action == "release":
            release_invoice(actor(), invoice)
            message = f"{invoice.client.name}'s bill is released and can be approved."
        else:
            approve_invoice(actor(), invoice, billing_timezone(), utcnow())
            message = f"{invoice.client.name}'s bill {invoice.number} is approved and finalized."
            message += sent_for_payment_note(1)
    if (error := attempt.error) is not None:
        flash(error.message, "error")
    else:
        flash(message, "success")
    return _back(month_, invoice_id)


@bp.route("/<period>/invoices/<int:invoice_id>/release", methods=["POST"])
@roles_required(*RESELLER_ROLES)
def release(period: str, invoice_id: int) -> Response | tuple[str, int]:
    return _simple_action(period, invoice_id, "release")


@bp.route("/<period>/invoices/<int:invoice_id>/approve", methods=["POST"])
@roles_required(*RESELLER_ROLES)
def approve(period: str, invoice_id: int) -> Response | tuple[str, int]:
    return _simple_action(period, invoice_id, "approve")


@bp.route("/<period>/approve-all", methods=["POST"])
@roles_required(*RESELLER_ROLES)
def approve_all(period: str) -> Response | tuple[str, int]:
    month_ = period_from_url(period)
    if not ActionForm().validate_on_submit():
        return _expired()
    with web_transaction() as attempt:
        result = approve_period(actor(), month_, billing_timezone(), utcnow())
    if (error := attempt.error) is not None:
        flash(error.message, "error")
        return redirect(url_for("review.month", period=str(month_)))
    count = len(result.approved)
    message = f"{count} bill{'s' if count != 1 else ''} of {month_.label} approved and finalized."
    if result.held:
        message += f" {result.held} held bill{'s were' if result.held != 1 else ' was'} skipped."
    if result.month_frozen:
        message += f" {month_.label} is now closed for good: late usage becomes adjustments next month."
    flash(message + sent_for_payment_note(count), "success")
    return redirect(url_for("review.month", period=str(month_)))


@bp.route("/<period>/close", methods=["POST"])
@roles_required(*RESELLER_ROLES)
def close(period: str) -> Response | tuple[str, int]:
    """Start the month's close in a worker; the review page shows its progress and its outcome."""
    month_ = period_from_url(period)
    if not ActionForm().validate_on_submit():
        return _expired()
    with web_transaction() as attempt:
        start_close_run(actor(), month_, billing_timezone(), utcnow())
    if (error := attempt.error) is not None:
        flash(error.message, "error")
    else:
        flash(
            f"Closing {month_.label} in the background: this page shows how far it got. "
            "The drafts appear here when it finishes.",
            "success",
        )
    return redirect(url_for("review.month", period=str(month_)) + "#close-month")


@bp.route("/<period>/close-status.json")
@roles_required(*RESELLER_ROLES)
def close_status(period: str) -> Response:
    """The latest close of the month, for the review page to follow it without a reload."""
    response = jsonify(close_run_json(latest_close_run(period_from_url(period))))
    response.headers["Cache-Control"] = "no-store"
    return response
