"""The reseller's price book: products with their prices, SKUs with their SPLA costs, margins."""

from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, url_for
from werkzeug.wrappers import Response

from metering import billing_timezone, change_price, change_sku_cost
from portal.accounts.models import Role
from portal.audit.services import Actor
from portal.auth.access import RESELLER_ROLES, current_portal_user, roles_required
from portal.catalog.forms import PriceForm, SkuCostForm
from portal.catalog.models import Product
from portal.catalog.services import (
    get_product,
    get_sku,
    list_products,
    list_skus,
)
from portal.db import utcnow
from portal.errors import InvalidInput, NotFound
from portal.money import amount_as_decimal_text, format_amount
from portal.transactions import web_transaction

bp = Blueprint("catalog", __name__, url_prefix="/reseller/price-book")


def _render(
    price_forms: dict[str, PriceForm] | None = None,
    cost_forms: dict[str, SkuCostForm] | None = None,
    status: int = 200,
) -> tuple[str, int]:
    products = list_products(include_inactive=True)
    skus = list_skus()
    price_forms = price_forms or {}
    cost_forms = cost_forms or {}
    for product in products:
        price_forms.setdefault(
            product.code, PriceForm(formdata=None, price=amount_as_decimal_text(product.price_minor))
        )
    for sku in skus:
        cost_forms.setdefault(
            sku.code, SkuCostForm(formdata=None, cost=amount_as_decimal_text(sku.spla_cost_minor))
        )
    return render_template(
        "catalog/price_book.html",
        products=products,
        skus=skus,
        price_forms=price_forms,
        cost_forms=cost_forms,
        margins={product.code: _margin(product) for product in products},
        can_edit=current_portal_user().role is Role.RESELLER_ADMIN,
    ), status


def _margin(product: Product) -> int:
    """Monthly margin of one seat with one user: price less the SPLA cost of its licences."""
    return product.price_minor - sum(sku.spla_cost_minor for sku in product.skus)


@bp.route("/")
@roles_required(*RESELLER_ROLES)
def index() -> tuple[str, int]:
    return _render()


@bp.route("/products/<code>", methods=["POST"])
@roles_required(Role.RESELLER_ADMIN)
def update_price(code: str) -> Response | tuple[str, int]:
    try:
        product = get_product(code)
    except NotFound:
        return render_template("error.html", code=404, title="Not found", message="No such product."), 404
    form = PriceForm()
    if not form.validate_on_submit() or form.price.minor is None:
        return _render(price_forms={code: form}, status=422)
    with web_transaction(renders=(InvalidInput,)) as attempt:
        month = change_price(
            Actor.for_user(current_portal_user()),
            product,
            form.price.minor,
            form.from_month.data,
            utcnow(),
            billing_timezone(),
        )
    if attempt.error is not None:
        form.from_month.errors = [attempt.error.message]
        return _render(price_forms={code: form}, status=attempt.error.http_status)
    flash(
        f"{product.name} now costs {format_amount(form.price.minor, product.currency)} a month. "
        f"Months from {month.label} on are billed at it.",
        "success",
    )
    return redirect(url_for("catalog.index"))


@bp.route("/skus/<code>", methods=["POST"])
@roles_required(Role.RESELLER_ADMIN)
def update_cost(code: str) -> Response | tuple[str, int]:
    try:
        sku = get_sku(code)
    except NotFound:
        return render_template("error.html", code=404, title="Not found", message="No such SKU."), 404
    form = SkuCostForm()
    if not form.validate_on_submit() or form.cost.minor is None:
        return _render(cost_forms={code: form}, status=422)
    with web_transaction(renders=(InvalidInput,)) as attempt:
        month = change_sku_cost(
            Actor.for_user(current_portal_user()),
            sku,
            form.cost.minor,
            form.from_month.data,
            utcnow(),
            billing_timezone(),
        )
    if attempt.error is not None:
        form.from_month.errors = [attempt.error.message]
        return _render(cost_forms={code: form}, status=attempt.error.http_status)
    flash(
        f"{sku.code} now costs you {format_amount(form.cost.minor, sku.currency)} a month. "
        f"The SPLA report and margins use it from {month.label} on.",
        "success",
    )
    return redirect(url_for("catalog.index"))
