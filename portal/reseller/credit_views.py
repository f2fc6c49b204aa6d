"""An issued invoice's money on the console: its balance, payments and credit notes, and entering them.

Both reseller roles see the page; only a ``reseller_admin`` records a payment or issues a credit note
(both change what a client owes).
"""

from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, url_for
from werkzeug.wrappers import Response

from metering import (
    Invoice,
    InvoiceStatus,
    PaymentMethod,
    Settlement,
    billing_timezone,
    credit_note_pdf,
    credit_notes_of,
    get_credit_note,
    get_invoice,
    invoice_balance,
    issue_credit_note,
    parse_day,
    payments_of,
    record_payment,
)
from portal.accounts.models import Role
from portal.accounts.services import get_reseller
from portal.auth.access import RESELLER_ROLES, roles_required
from portal.db import db, utcnow
from portal.errors import NotFound, ServiceError
from portal.money import format_amount
from portal.reseller.forms import CreditNoteForm, PaymentForm, amount_minor
from portal.reseller.web import actor, error_page, is_admin
from portal.transactions import web_transaction

bp = Blueprint("credits", __name__, url_prefix="/reseller")


def _invoice(invoice_id: int) -> Invoice | None:
    try:
        return get_invoice(invoice_id)
    except NotFound:
        return None


def _not_found() -> tuple[str, int]:
    return error_page(404, "Not found", "There is no such invoice.")


def _line_choices(invoice: Invoice) -> list[tuple[int, str]]:
    return [
        (line.id, f"{line.description} ({format_amount(line.amount_minor, line.currency)})")
        for line in invoice.lines
        if line.amount_minor > 0
    ]


def _render(
    invoice: Invoice,
    payment_form: PaymentForm | None = None,
    credit_form: CreditNoteForm | None = None,
    status: int = 200,
) -> tuple[str, int]:
    if payment_form is None:
        today = utcnow().astimezone(billing_timezone()).date()
        payment_form = PaymentForm(formdata=None, received_on=today.isoformat())
    if credit_form is None:
        credit_form = CreditNoteForm(formdata=None)
    credit_form.lines.choices = _line_choices(invoice)
    return render_template(
        "reseller/invoice_money.html",
        invoice=invoice,
        balance=invoice_balance(invoice),
        payments=payments_of(invoice_id=invoice.id),
        credit_notes=credit_notes_of(invoice_id=invoice.id),
        payment_form=payment_form,
        credit_form=credit_form,
        can_enter=is_admin() and invoice.status is not InvoiceStatus.DRAFT,
        open_for_payment=invoice.status in (InvoiceStatus.FINALIZED, InvoiceStatus.OVERDUE),
    ), status


@bp.route("/invoices/<int:invoice_id>")
@roles_required(*RESELLER_ROLES)
def invoice(invoice_id: int) -> tuple[str, int]:
    found = _invoice(invoice_id)
    if found is None:
        return _not_found()
    return _render(found)


def _refused(invoice: Invoice, error: ServiceError, form: PaymentForm | CreditNoteForm) -> tuple[str, int]:
    """The service's refusal on the form it came from; nothing was saved (the block rolled back)."""
    db.session.expire_all()
    invoice = get_invoice(invoice.id)
    for name, message in error.fields.items():
        if name in form:
            form[name].errors = [*form[name].errors, message]
    flash(error.message, "error")
    if isinstance(form, PaymentForm):
        return _render(invoice, payment_form=form, status=error.http_status)
    return _render(invoice, credit_form=form, status=error.http_status)


@bp.route("/invoices/<int:invoice_id>/payments", methods=["POST"])
@roles_required(Role.RESELLER_ADMIN)
def add_payment(invoice_id: int) -> Response | tuple[str, int]:
    found = _invoice(invoice_id)
    if found is None:
        return _not_found()
    form = PaymentForm()
    if not form.validate_on_submit():
        return _render(found, payment_form=form, status=422)
    amount = amount_minor(form.amount)
    assert amount is not None
    with web_transaction() as attempt:
        record_payment(
            actor(),
            found,
            amount,
            PaymentMethod(form.method.data),
            parse_day(form.received_on.data, "received_on"),
            form.reference.data or "",
            utcnow(),
        )
    if (error := attempt.error) is not None:
        return _refused(found, error, form)
    left = invoice_balance(found).balance_minor
    note = " It is paid in full." if left == 0 else ""
    flash(f"Payment recorded for invoice {found.number}.{note}", "success")
    return redirect(url_for("credits.invoice", invoice_id=found.id) + "#payments")


@bp.route("/invoices/<int:invoice_id>/credit-notes", methods=["POST"])
@roles_required(Role.RESELLER_ADMIN)
def add_credit_note(invoice_id: int) -> Response | tuple[str, int]:
    found = _invoice(invoice_id)
    if found is None:
        return _not_found()
    form = CreditNoteForm()
    form.lines.choices = _line_choices(found)
    if not form.validate_on_submit():
        return _render(found, credit_form=form, status=422)
    with web_transaction() as attempt:
        note = issue_credit_note(
            actor(),
            found,
            form.reason.data or "",
            utcnow(),
            amount_minor=amount_minor(form.amount),
            line_ids=form.lines.data or [],
            settlement=Settlement(form.settlement.data),
        )
    if (error := attempt.error) is not None:
        return _refused(found, error, form)
    flash(f"Credit note {note.number} issued for invoice {found.number}.", "success")
    return redirect(url_for("credits.invoice", invoice_id=found.id) + "#credit-notes")


@bp.route("/credit-notes/<int:credit_note_id>.pdf")
@roles_required(*RESELLER_ROLES)
def credit_note_download(credit_note_id: int) -> Response | tuple[str, int]:
    try:
        note = get_credit_note(credit_note_id)
    except NotFound:
        return error_page(404, "Not found", "There is no such credit note.")
    response = Response(credit_note_pdf(note, get_reseller()), mimetype="application/pdf")
    response.headers["Content-Disposition"] = f'attachment; filename="credit-note-{note.number}.pdf"'
    return response
