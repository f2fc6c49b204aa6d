"""The month's paperwork: the SPLA report for the distributor, and the invoices for the books."""

from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, request, url_for
from sqlalchemy.exc import IntegrityError
from werkzeug.wrappers import Response

from metering import (
    BillingPeriod,
    SplaReport,
    billing_timezone,
    differences_since_filing,
    draft_count,
    filing_status,
    mark_spla_submitted,
    newest_period,
    spla_report,
    spla_report_csv,
)
from portal.auth.access import RESELLER_ROLES, roles_required
from portal.db import utcnow
from portal.reseller.books import (
    export_credit_notes,
    export_invoices,
    export_payments,
    issued_invoices,
)
from portal.reseller.exports import (
    QBO_MAX_INVOICES,
    quickbooks_desktop_iif_bytes,
    quickbooks_online_credit_memos_csv,
    quickbooks_online_invoices,
    quickbooks_online_payments_csv,
)
from portal.reseller.forms import PeriodForm, SplaSubmittedForm
from portal.reseller.web import actor, download, period_from_url
from portal.transactions import web_transaction
from provisioning import still_authorized_before

bp = Blueprint("filing", __name__, url_prefix="/reseller")


def _last_month() -> BillingPeriod:
    return BillingPeriod.containing(utcnow(), billing_timezone()).previous()


def _pick(endpoint: str, title: str, default: BillingPeriod) -> Response | tuple[str, int]:
    """``?period=`` from the month picker, checked; without it, ``default``."""
    if "period" not in request.args:
        return redirect(url_for(endpoint, period=str(default)))
    form = PeriodForm(request.args)
    if not form.validate():
        return render_template("reseller/period_pick.html", form=form, title=title), 422
    return redirect(url_for(endpoint, period=form.period.data.strip()))


# --- SPLA -------------------------------------------------------------------------------------------


@bp.route("/spla/")
@roles_required(*RESELLER_ROLES)
def spla_index() -> Response | tuple[str, int]:
    return _pick("filing.spla", "SPLA report", _last_month())


def _sku_totals(report: SplaReport) -> list[tuple[str, str, int, int, str]]:
    """Per SKU: code, name, quantity, cost, currency, over every client."""
    totals: dict[str, tuple[str, int, int, str]] = {}
    for line in report.lines:
        name, quantity, cost, currency = totals.get(line.sku, (line.sku_name, 0, 0, line.currency))
        totals[line.sku] = (
            name,
            quantity + line.quantity,
            cost + line.quantity * line.unit_cost_minor,
            currency,
        )
    return [(sku, *values) for sku, values in sorted(totals.items())]


def _render_spla(
    period: BillingPeriod, form: SplaSubmittedForm | None = None, status: int = 200
) -> tuple[str, int]:
    tz = billing_timezone()
    report = spla_report(period, tz)
    filing = filing_status(period, tz, utcnow())
    return render_template(
        "reseller/spla.html",
        period=period,
        report=report,
        totals=_sku_totals(report),
        filing=filing,
        differences=differences_since_filing(filing.submission, report) if filing.submission else [],
        form=form or SplaSubmittedForm(formdata=None),
        period_form=PeriodForm(formdata=None, period=str(period)),
        still_authorized=still_authorized_before(period.bounds(tz)[1]),
    ), status


@bp.route("/spla/<period>")
@roles_required(*RESELLER_ROLES)
def spla(period: str) -> tuple[str, int]:
    return _render_spla(period_from_url(period))


@bp.route("/spla/<period>/report.csv")
@roles_required(*RESELLER_ROLES)
def spla_csv(period: str) -> Response:
    month = period_from_url(period)
    report = spla_report(month, billing_timezone())
    return download(spla_report_csv(report), f"spla-{month}.csv", "text/csv")


@bp.route("/spla/<period>/submitted", methods=["POST"])
@roles_required(*RESELLER_ROLES)
def spla_submitted(period: str) -> Response | tuple[str, int]:
    month = period_from_url(period)
    form = SplaSubmittedForm()
    if not form.validate_on_submit():
        return _render_spla(month, form, status=422)
    tz = billing_timezone()
    try:
        with web_transaction() as attempt:
            # The figures filed are the ones on the page right now, read again in this transaction.
            mark_spla_submitted(actor(), spla_report(month, tz), form.reference.data, tz, utcnow())
    except IntegrityError:
        # Someone else marked it in the same instant; their record stands (ours is rolled back).
        flash(f"The {month.label} report was just marked submitted by someone else.", "error")
    else:
        if (error := attempt.error) is not None:
            flash(error.message, "error")
        else:
            flash(f"The {month.label} SPLA report is marked submitted.", "success")
    return redirect(url_for("filing.spla", period=str(month)))


# --- exports for the books ------------------------------------------------------------------------------


@bp.route("/exports/")
@roles_required(*RESELLER_ROLES)
def exports_index() -> Response | tuple[str, int]:
    return _pick("filing.exports", "Exports", newest_period() or _last_month())


@bp.route("/exports/<period>")
@roles_required(*RESELLER_ROLES)
def exports(period: str) -> str:
    month = period_from_url(period)
    invoices = issued_invoices(month)
    totals: dict[str, int] = {}
    for invoice in invoices:
        totals[invoice.currency] = totals.get(invoice.currency, 0) + invoice.total_minor
    drafts = draft_count(month)
    tz = billing_timezone()
    return render_template(
        "reseller/exports.html",
        period=month,
        invoices=invoices,
        totals=totals,
        drafts=drafts,
        credit_notes=export_credit_notes(month, tz),
        payments=export_payments(month),
        max_invoices=QBO_MAX_INVOICES,
        period_form=PeriodForm(formdata=None, period=str(month)),
    )


@bp.route("/exports/<period>/quickbooks-online.csv")
@roles_required(*RESELLER_ROLES)
def quickbooks_online(period: str) -> Response:
    """One CSV of up to 100 invoices (QuickBooks Online's import limit); more come as a zip of CSVs."""
    month = period_from_url(period)
    file = quickbooks_online_invoices(
        export_invoices(month, billing_timezone()), f"seatmeter-{month}-quickbooks-online"
    )
    return download(file.body, file.filename, file.mimetype)


@bp.route("/exports/<period>/quickbooks-online-credit-memos.csv")
@roles_required(*RESELLER_ROLES)
def quickbooks_online_credit_memos(period: str) -> Response:
    month = period_from_url(period)
    body = quickbooks_online_credit_memos_csv(export_credit_notes(month, billing_timezone()))
    return download(body, f"seatmeter-{month}-quickbooks-online-credit-memos.csv", "text/csv")


@bp.route("/exports/<period>/quickbooks-online-payments.csv")
@roles_required(*RESELLER_ROLES)
def quickbooks_online_payments(period: str) -> Response:
    month = period_from_url(period)
    body = quickbooks_online_payments_csv(export_payments(month))
    return download(body, f"seatmeter-{month}-quickbooks-online-payments.csv", "text/csv")


@bp.route("/exports/<period>/quickbooks-desktop.iif")
@roles_required(*RESELLER_ROLES)
def quickbooks_desktop(period: str) -> Response:
    """Invoices, credit memos and payments of the month in one IIF file, in Windows-1252."""
    month = period_from_url(period)
    tz = billing_timezone()
    body = quickbooks_desktop_iif_bytes(
        export_invoices(month, tz), export_credit_notes(month, tz), export_payments(month)
    )
    return download(body, f"seatmeter-{month}-quickbooks-desktop.iif", "application/octet-stream")
