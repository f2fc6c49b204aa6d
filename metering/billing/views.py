"""The client's billing pages: invoices (list, detail, PDF) and the card Stripe charges."""

from __future__ import annotations

import stripe
from flask import Blueprint, current_app, flash, redirect, render_template, request, url_for
from werkzeug.wrappers import Response

from metering.billing.cards import adopt_card, start_card_setup
from metering.billing.documents import invoice_document, is_open, state_label
from metering.billing.pdf import invoice_pdf
from metering.billing.queries import billing_account_of, get_invoice_for_client, page_invoices
from metering.billing.stripe_push import StripeNotConfigured
from metering.credits.balances import balances_for
from metering.credits.payments import payments_of
from metering.credits.pdf import credit_note_pdf
from metering.credits.services import credit_notes_of, get_credit_note
from metering.periods import BillingPeriod
from metering.settings import billing_timezone
from portal.accounts.models import Role
from portal.accounts.services import get_reseller
from portal.audit.services import Actor
from portal.auth.access import current_client, current_portal_user, roles_required
from portal.db import utcnow
from portal.errors import InvalidInput, NotFound
from portal.transactions import web_transaction

bp = Blueprint("billing", __name__, url_prefix="/billing")
INVOICES_PER_PAGE = 24


def _not_found() -> tuple[str, int]:
    return render_template("error.html", code=404, title="Not found", message="No such invoice."), 404


def _sent_as_credit_note() -> tuple[str, int]:
    # A month that netted below zero reached the client as a credit note, never as an invoice.
    return render_template(
        "error.html",
        code=404,
        title="Not an invoice",
        message="This month gave back more than it billed: it is a credit note, listed on your billing page.",
    ), 404


@bp.route("/")
@roles_required(Role.CLIENT_ADMIN)
def index() -> str:
    client = current_client()
    today = utcnow().astimezone(billing_timezone()).date()
    page = page_invoices(
        list_name="billing.invoices",
        cursor=request.args.get("cursor"),
        limit=INVOICES_PER_PAGE,
        client=client,
        issued_only=True,
    )
    invoices = page.rows
    return render_template(
        "billing/index.html",
        client=client,
        invoices=invoices,
        page=page,
        balances=balances_for(invoices),
        credit_notes=credit_notes_of(client_id=client.id),
        account=billing_account_of(client),
        stripe_ready=bool(current_app.config.get("STRIPE_API_KEY")),
        period_label=lambda text: BillingPeriod.parse(text).label,
        state_of=lambda invoice: state_label(invoice, today),
        is_open=is_open,
    )


@bp.route("/invoices/<int:invoice_id>")
@roles_required(Role.CLIENT_ADMIN)
def invoice(invoice_id: int) -> str | tuple[str, int]:
    try:
        found = get_invoice_for_client(current_client(), invoice_id)
    except NotFound:
        return _not_found()
    if found.total_minor < 0:
        return _sent_as_credit_note()
    return render_template(
        "billing/invoice.html",
        doc=invoice_document(found, get_reseller(), billing_timezone(), utcnow()),
        payments=payments_of(invoice_id=found.id),
        credit_notes=credit_notes_of(invoice_id=found.id),
        month=BillingPeriod.parse(found.period),
        pay_now=found.stripe_hosted_invoice_url if is_open(found) else None,
    )


@bp.route("/invoices/<int:invoice_id>.pdf")
@roles_required(Role.CLIENT_ADMIN)
def invoice_pdf_download(invoice_id: int) -> Response | tuple[str, int]:
    try:
        found = get_invoice_for_client(current_client(), invoice_id)
    except NotFound:
        return _not_found()
    if found.total_minor < 0:
        return _sent_as_credit_note()
    response = Response(invoice_pdf(found, get_reseller()), mimetype="application/pdf")
    response.headers["Content-Disposition"] = f'attachment; filename="invoice-{found.number}.pdf"'
    return response


@bp.route("/credit-notes/<int:credit_note_id>.pdf")
@roles_required(Role.CLIENT_ADMIN)
def credit_note_download(credit_note_id: int) -> Response | tuple[str, int]:
    try:
        note = get_credit_note(credit_note_id, client_id=current_client().id)
    except NotFound:
        return render_template("error.html", code=404, title="Not found", message="No such credit note."), 404
    response = Response(credit_note_pdf(note, get_reseller()), mimetype="application/pdf")
    response.headers["Content-Disposition"] = f'attachment; filename="credit-note-{note.number}.pdf"'
    return response


@bp.route("/card", methods=["POST"])
@roles_required(Role.CLIENT_ADMIN)
def add_card() -> Response:
    """Off to Stripe's page to enter a card; Stripe sends the person back to :func:`card_return`."""
    try:
        # Committed: keep the Stripe Customer id even if the person never comes back.
        with web_transaction(renders=()):
            url = start_card_setup(
                current_client(),
                success_url=url_for("billing.card_return", _external=True),
                cancel_url=url_for("billing.index", _external=True),
            )
    except StripeNotConfigured:
        flash("Card payments are not set up yet; your provider will tell you how to pay.", "error")
        return redirect(url_for("billing.index"))
    except stripe.StripeError as error:
        current_app.logger.error("Stripe refused to start a card setup: %s", error)
        flash("Stripe could not be reached. Please try again in a few minutes.", "error")
        return redirect(url_for("billing.index"))
    return redirect(url, code=303)


@bp.route("/card/return")
@roles_required(Role.CLIENT_ADMIN)
def card_return() -> Response | tuple[str, int]:
    """Back from Stripe: ``?session_id=`` from Checkout, or ``?setup_intent=`` from Stripe.js."""
    try:
        with web_transaction(renders=()):
            account = adopt_card(
                Actor.for_user(current_portal_user()),
                current_client(),
                session_id=request.args.get("session_id") or None,
                setup_intent_id=request.args.get("setup_intent") or None,
            )
    except NotFound:
        return render_template(
            "error.html",
            code=404,
            title="Not found",
            message="That card setup is not yours or does not exist.",
        ), 404
    except InvalidInput as error:
        flash(str(error), "error")
        return redirect(url_for("billing.index"))
    except StripeNotConfigured:
        flash("Card payments are not set up yet; your provider will tell you how to pay.", "error")
        return redirect(url_for("billing.index"))
    except stripe.StripeError as error:
        current_app.logger.error("Stripe refused the card: %s", error)
        flash("Stripe could not confirm the card. Please try again.", "error")
        return redirect(url_for("billing.index"))
    card = f"{(account.card_brand or 'card').capitalize()} ending {account.card_last4 or '????'}"
    flash(f"{card} will be charged for your invoices from now on.", "success")
    return redirect(url_for("billing.index"))
