"""The console's PSA pages: the sync's state per client, product and month, and the mapping of
clients to PSA agreements and products to PSA catalog items.

Both reseller roles see the pages; only a reseller_admin maps, syncs again or overwrites a conflict.
The PSA's lists are read as the mapping page is drawn: a PSA that is not configured or does not
answer is said in plain words on the page, never a server error.
"""

from __future__ import annotations

from dataclasses import dataclass

from flask import Blueprint, flash, redirect, render_template, url_for
from sqlalchemy import select
from werkzeug.wrappers import Response

from metering import (
    PsaCompanyLink,
    PsaError,
    PsaNotConfigured,
    PsaProductLink,
    PsaSyncState,
    company_links,
    link_client,
    link_product,
    product_links,
    psa_client,
    psa_missing_settings,
    sync_again,
    sync_counts,
    sync_records,
)
from portal.accounts.models import Client, Role
from portal.auth.access import RESELLER_ROLES, roles_required
from portal.catalog.models import Product
from portal.db import db
from portal.reseller.psa_forms import ClientAgreementForm, OverwriteForm, ProductItemForm, SyncAgainForm
from portal.reseller.web import actor, error_page, is_admin
from portal.transactions import web_transaction

bp = Blueprint("psa", __name__, url_prefix="/reseller/psa")

ADMIN = (Role.RESELLER_ADMIN,)
NOT_BILLED_CHOICE = 0  # ConnectWise ids start at 1


@dataclass
class PsaLists:
    """What the PSA offers to map to, or why it could not be read."""

    agreements: list[tuple[int, str, int, str]]  # agreement id, its name, company id, company name
    items: list[tuple[int, str]]
    problem: str | None = None


def _read_psa() -> PsaLists:
    try:
        psa = psa_client()
        companies = {company.id: company.name for company in psa.list_companies()}
        agreements = sorted(
            (
                (agreement.id, agreement.name, agreement.company_id, companies.get(agreement.company_id, "?"))
                for agreement in psa.list_agreements()
            ),
            key=lambda row: (row[3].lower(), row[1].lower()),
        )
        items = sorted(
            ((item.id, f"{item.identifier}: {item.description}") for item in psa.list_catalog_items()),
            key=lambda row: row[1].lower(),
        )
    except PsaNotConfigured as error:
        return PsaLists([], [], error.message)
    except PsaError as error:
        return PsaLists([], [], f"ConnectWise PSA could not be read: {error.message}")
    return PsaLists(agreements, items)


def _clients() -> list[Client]:
    return list(db.session.scalars(select(Client).order_by(Client.name)))


def _products() -> list[Product]:
    return list(db.session.scalars(select(Product).order_by(Product.name)))


def _agreement_choices(lists: PsaLists) -> list[tuple[int, str]]:
    return [
        (agreement_id, f"{company}: {name}") for agreement_id, name, _company_id, company in lists.agreements
    ]


def _client_form(client: Client, lists: PsaLists, current: int | None) -> ClientAgreementForm:
    form = ClientAgreementForm(prefix=f"c{client.id}")
    form.agreement.choices = _agreement_choices(lists)
    if current is not None and form.agreement.data is None:
        form.agreement.data = current
    return form


def _product_form(product: Product, lists: PsaLists, current: int | None) -> ProductItemForm:
    form = ProductItemForm(prefix=f"p{product.id}")
    form.item.choices = [(NOT_BILLED_CHOICE, "Not billed through the PSA"), *lists.items]
    if current is not None and form.item.data is None:
        form.item.data = current
    return form


@bp.route("/")
@roles_required(*RESELLER_ROLES)
def index() -> tuple[str, int]:
    records = sync_records()
    return (
        render_template(
            "reseller/psa.html",
            missing=psa_missing_settings(),
            counts=sync_counts(),
            records=records,
            again=SyncAgainForm(),
            overwrite=OverwriteForm(),
            admin=is_admin(),
            unmapped_clients=[c for c in _clients() if c.id not in company_links()],
            unmapped_products=sorted(
                {r.product.name for r in records if r.product_id not in product_links()},
            ),
            states=PsaSyncState,
        ),
        200,
    )


@bp.route("/mapping")
@roles_required(*RESELLER_ROLES)
def mapping() -> tuple[str, int]:
    lists = _read_psa() if not psa_missing_settings() else PsaLists([], [], None)
    clients, products = company_links(), product_links()
    return (
        render_template(
            "reseller/psa_mapping.html",
            missing=psa_missing_settings(),
            problem=lists.problem,
            clients=[
                (
                    client,
                    clients.get(client.id),
                    _client_form(client, lists, _current_agreement(clients, client)),
                )
                for client in _clients()
            ],
            products=[
                (
                    product,
                    products.get(product.id),
                    _product_form(product, lists, _current_item(products, product)),
                )
                for product in _products()
            ],
            has_lists=bool(lists.agreements or lists.items),
            admin=is_admin(),
        ),
        200,
    )


def _current_agreement(links: dict[int, PsaCompanyLink], client: Client) -> int | None:
    link = links.get(client.id)
    return link.agreement_id if link is not None else None


def _current_item(links: dict[int, PsaProductLink], product: Product) -> int | None:
    link = links.get(product.id)
    if link is None:
        return None
    return link.catalog_item_id if link.catalog_item_id is not None else NOT_BILLED_CHOICE


@bp.route("/mapping/clients/<int:client_id>", methods=["POST"])
@roles_required(*ADMIN)
def map_client(client_id: int) -> Response | tuple[str, int]:
    client = db.session.get(Client, client_id)
    if client is None:
        return error_page(404, "Not found", "There is no such client.")
    lists = _read_psa()
    if lists.problem:
        flash(lists.problem, "error")
        return redirect(url_for("psa.mapping"))
    form = _client_form(client, lists, None)
    if not form.validate_on_submit():
        flash(f"{client.name}: pick one of the agreements ConnectWise lists.", "error")
        return redirect(url_for("psa.mapping"))
    chosen = next(row for row in lists.agreements if row[0] == form.agreement.data)
    with web_transaction() as attempt:
        link_client(actor(), client, chosen[2], chosen[3], chosen[0], chosen[1])
    if attempt.error is not None:
        flash(attempt.error.message, "error")
    else:
        flash(f"{client.name} bills on {chosen[3]}: {chosen[1]}.", "success")
    return redirect(url_for("psa.mapping"))


@bp.route("/mapping/products/<int:product_id>", methods=["POST"])
@roles_required(*ADMIN)
def map_product(product_id: int) -> Response | tuple[str, int]:
    product = db.session.get(Product, product_id)
    if product is None:
        return error_page(404, "Not found", "There is no such product.")
    lists = _read_psa()
    if lists.problem:
        flash(lists.problem, "error")
        return redirect(url_for("psa.mapping"))
    form = _product_form(product, lists, None)
    if not form.validate_on_submit():
        flash(f"{product.name}: pick one of the catalog items ConnectWise lists.", "error")
        return redirect(url_for("psa.mapping"))
    item_id = form.item.data if form.item.data != NOT_BILLED_CHOICE else None
    label = dict(lists.items).get(form.item.data, "")
    with web_transaction() as attempt:
        link_product(actor(), product, item_id, label)
    if attempt.error is not None:
        flash(attempt.error.message, "error")
    elif item_id is None:
        flash(
            f"{product.name} is not billed through ConnectWise: finalized months record nothing for it.",
            "success",
        )
    else:
        flash(f"{product.name} is {label} in ConnectWise.", "success")
    return redirect(url_for("psa.mapping"))


@bp.route("/records/<int:record_id>/again", methods=["POST"])
@roles_required(*ADMIN)
def again(record_id: int) -> Response | tuple[str, int]:
    return _again(record_id, SyncAgainForm(), overwrite=False)


@bp.route("/records/<int:record_id>/overwrite", methods=["POST"])
@roles_required(*ADMIN)
def overwrite(record_id: int) -> Response | tuple[str, int]:
    return _again(record_id, OverwriteForm(), overwrite=True)


def _again(
    record_id: int, form: SyncAgainForm | OverwriteForm, *, overwrite: bool
) -> Response | tuple[str, int]:
    if not form.validate_on_submit():
        return error_page(400, "This form has expired", "Go back, reload the page and try again.")
    with web_transaction() as attempt:
        record = sync_again(actor(), record_id, overwrite=overwrite)
    if attempt.error is not None:
        return error_page(404, "Not found", attempt.error.message)
    if record.state is PsaSyncState.DONE:
        flash(
            f"{record.client.name}, {record.product.name}, {record.period}: the PSA holds it already.",
            "success",
        )
        return redirect(url_for("psa.index"))
    what = "overwritten with Seatmeter's quantity" if overwrite else "synced again"
    flash(f"{record.client.name}, {record.product.name}, {record.period}: being {what}.", "success")
    return redirect(url_for("psa.index"))
