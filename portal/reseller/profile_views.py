"""The reseller's profile, its tax rates, and each client's billing details and tax (reseller console).

Only a ``reseller_admin`` changes them; staff see the tax rates and each client's details.
"""

from __future__ import annotations

import base64

from flask import Blueprint, flash, redirect, render_template, request, url_for
from werkzeug.wrappers import Response

from metering import client_tax, create_tax_rate, format_rate, list_tax_rates, set_client_tax
from portal.accounts.forms import ClientBillingForm
from portal.accounts.models import Client, Role
from portal.accounts.profile_services import ResellerProfile, update_client_billing, update_reseller_profile
from portal.accounts.services import get_client_by_ref, get_reseller
from portal.accounts.views import apply_service_error
from portal.auth.access import RESELLER_ROLES, roles_required
from portal.errors import NotFound
from portal.reseller.forms import ClientTaxForm, ResellerProfileForm, TaxRateForm
from portal.reseller.web import actor, error_page, is_admin
from portal.transactions import web_transaction

bp = Blueprint("profile", __name__, url_prefix="/reseller")

NO_RATE = ""


@bp.route("/profile", methods=["GET", "POST"])
@roles_required(Role.RESELLER_ADMIN)
def profile() -> str | Response | tuple[str, int]:
    reseller = get_reseller()
    form = ResellerProfileForm(obj=reseller if request.method == "GET" else None)
    if request.method == "GET" and reseller is not None:
        form.payment_terms_days.data = reseller.payment_terms_days
    if request.method == "POST" and form.validate_on_submit():
        upload = request.files.get(form.logo.name)
        logo = upload.read() if upload is not None and upload.filename else None
        with web_transaction() as attempt:
            update_reseller_profile(
                actor(),
                ResellerProfile(
                    name=form.name.data,
                    address=form.address.data,
                    tax_id=form.tax_id.data,
                    support_email=form.support_email.data,
                    support_phone=form.support_phone.data,
                    payment_instructions=form.payment_instructions.data,
                    invoice_prefix=form.invoice_prefix.data,
                    payment_terms_days=form.payment_terms_days.data,
                    logo=logo,
                    remove_logo=bool(form.remove_logo.data),
                ),
            )
        if (error := attempt.error) is None:
            flash("Profile saved: invoices issued from now on show it.", "success")
            return redirect(url_for("profile.profile"))
        apply_service_error(form, error)
    status = 422 if request.method == "POST" else 200
    current = get_reseller()
    logo_uri = (
        f"data:{current.logo_mimetype};base64,{base64.b64encode(current.logo).decode('ascii')}"
        if current is not None and current.logo
        else None
    )
    return render_template("reseller/profile.html", form=form, logo_uri=logo_uri), status


@bp.route("/tax-rates", methods=["GET", "POST"])
@roles_required(*RESELLER_ROLES, to_change=(Role.RESELLER_ADMIN,))
def tax_rates() -> str | Response | tuple[str, int]:
    form = TaxRateForm()
    if request.method == "POST" and form.validate_on_submit():
        with web_transaction() as attempt:
            rate = create_tax_rate(
                actor(),
                form.name.data,
                form.percentage.data,
                bool(form.inclusive.data),
                form.jurisdiction.data,
            )
        if (error := attempt.error) is None:
            flash(f"Tax rate {rate.label} ({rate.jurisdiction}) added.", "success")
            return redirect(url_for("profile.tax_rates"))
        apply_service_error(form, error)
    status = 422 if request.method == "POST" else 200
    return render_template(
        "reseller/tax_rates.html",
        form=form,
        rates=list_tax_rates(),
        can_edit=is_admin(),
        format_rate=format_rate,
    ), status


def _client(ref: str) -> Client | None:
    try:
        return get_client_by_ref(ref)
    except NotFound:
        return None


def _tax_form(client: Client, formdata: bool) -> ClientTaxForm:
    form = ClientTaxForm() if formdata else ClientTaxForm(formdata=None)
    form.tax_rate.choices = [(NO_RATE, "No tax")] + [
        (str(rate.id), f"{rate.label} — {rate.jurisdiction}") for rate in list_tax_rates()
    ]
    if not formdata:
        setting = client_tax(client.id)
        form.tax_rate.data = str(setting.tax_rate_id) if setting and setting.tax_rate_id else NO_RATE
        form.exempt.data = bool(setting and setting.exempt)
        form.exemption_note.data = setting.exemption_note if setting else None
    return form


def _render_billing(
    client: Client, billing: ClientBillingForm, tax: ClientTaxForm, status: int = 200
) -> tuple[str, int]:
    return render_template(
        "reseller/client_billing.html", client=client, billing_form=billing, tax_form=tax, can_edit=is_admin()
    ), status


@bp.route("/clients/<ref>/billing")
@roles_required(*RESELLER_ROLES)
def client_billing(ref: str) -> tuple[str, int]:
    found = _client(ref)
    if found is None:
        return error_page(404, "Not found", "There is no client with this reference.")
    billing = ClientBillingForm(formdata=None, obj=found)
    return _render_billing(found, billing, _tax_form(found, formdata=False))


@bp.route("/clients/<ref>/billing/details", methods=["POST"])
@roles_required(Role.RESELLER_ADMIN)
def save_client_billing(ref: str) -> Response | tuple[str, int]:
    found = _client(ref)
    if found is None:
        return error_page(404, "Not found", "There is no client with this reference.")
    form = ClientBillingForm()
    if form.validate_on_submit():
        with web_transaction() as attempt:
            update_client_billing(
                actor(),
                found,
                form.billing_email.data,
                form.extra_billing_emails.data,
                form.billing_address.data,
                form.tax_id.data,
            )
        if (error := attempt.error) is None:
            flash(f"Billing details of {found.name} saved.", "success")
            return redirect(url_for("profile.client_billing", ref=found.ref))
        apply_service_error(form, error)
    return _render_billing(found, form, _tax_form(found, formdata=False), status=422)


@bp.route("/clients/<ref>/billing/tax", methods=["POST"])
@roles_required(Role.RESELLER_ADMIN)
def save_client_tax(ref: str) -> Response | tuple[str, int]:
    found = _client(ref)
    if found is None:
        return error_page(404, "Not found", "There is no client with this reference.")
    form = _tax_form(found, formdata=True)
    if form.validate_on_submit():
        choice = form.tax_rate.data or NO_RATE
        if choice != NO_RATE and not choice.isdigit():
            form.tax_rate.errors = ["Choose one of the tax rates."]
        else:
            with web_transaction() as attempt:
                set_client_tax(
                    actor(),
                    found,
                    int(choice) if choice != NO_RATE else None,
                    bool(form.exempt.data),
                    form.exemption_note.data,
                )
            if (error := attempt.error) is None:
                flash(f"Tax setting of {found.name} saved: its next invoice uses it.", "success")
                return redirect(url_for("profile.client_billing", ref=found.ref))
            apply_service_error(form, error)
    return _render_billing(found, ClientBillingForm(formdata=None, obj=found), form, status=422)
