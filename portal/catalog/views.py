"""The reseller's price book: products with their prices, SKUs with their SPLA costs, margins."""

from __future__ import annotations

from dataclasses import dataclass

from flask import Blueprint, current_app, flash, redirect, render_template, url_for
from werkzeug.wrappers import Response

from metering import (
    BillingPeriod,
    billing_timezone,
    change_placement,
    change_price,
    change_sku_cost,
    effective_month,
)
from portal.accounts.models import Role
from portal.audit.services import Actor
from portal.auth.access import RESELLER_ROLES, current_portal_user, roles_required
from portal.catalog.forms import PlacementForm, PriceForm, SkuCostForm
from portal.catalog.models import LicenceSku, Product
from portal.catalog.services import (
    checked_placement,
    get_product,
    get_sku,
    list_products,
    list_skus,
    placement_in_force,
    platforms_for,
)
from portal.db import utcnow
from portal.errors import InvalidInput, NotFound
from portal.money import amount_as_decimal_text, format_amount
from portal.transactions import web_transaction

bp = Blueprint("catalog", __name__, url_prefix="/reseller/price-book")


PLATFORM_NAMES = {
    "workspaces": "Amazon WorkSpaces",
    "active_directory": "Colo (Active Directory / RDS)",
    "workmail": "Amazon WorkMail",
    "kamailio": "Colo phone system (Kamailio)",
}
PROGRAMME_NAMES = {"spla": "Microsoft SPLA", "aws": "AWS (cost only)"}


@dataclass(frozen=True)
class PlacementRow:
    """One product on one platform as the price book shows it: the bill in force this month."""

    product: Product
    platform: str
    platform_name: str
    skus: list[LicenceSku]
    effective_from: str | None  # None: no placement, the product's own bill applies
    in_use: bool  # the adapter that serves the product's kind now (PROVISIONING_ADAPTERS)

    @property
    def key(self) -> str:
        return f"{self.product.code}/{self.platform}"

    @property
    def programmes(self) -> str:
        names = sorted({PROGRAMME_NAMES.get(sku.programme.value, sku.programme.value) for sku in self.skus})
        return ", ".join(names) or "no licence"


def placement_rows(products: list[Product]) -> list[PlacementRow]:
    month = str(BillingPeriod.containing(utcnow(), billing_timezone()))
    adapters: dict[str, str] = current_app.config.get("PROVISIONING_ADAPTERS") or {}
    rows = []
    for product in products:
        for platform in platforms_for(product):
            placement = placement_in_force(product, platform, month)
            rows.append(
                PlacementRow(
                    product=product,
                    platform=platform,
                    platform_name=PLATFORM_NAMES.get(platform, platform),
                    skus=list(placement.skus) if placement is not None else list(product.skus),
                    effective_from=placement.effective_from if placement is not None else None,
                    in_use=adapters.get(str(product.kind)) == platform,
                )
            )
    return rows


def _render(
    price_forms: dict[str, PriceForm] | None = None,
    cost_forms: dict[str, SkuCostForm] | None = None,
    status: int = 200,
    placement_forms: dict[str, PlacementForm] | None = None,
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
    rows = placement_rows(products)
    placement_forms = placement_forms or {}
    for row in rows:
        placement_forms.setdefault(
            row.key, PlacementForm(formdata=None, skus=", ".join(sku.code for sku in row.skus))
        )
    return render_template(
        "catalog/price_book.html",
        products=products,
        skus=skus,
        price_forms=price_forms,
        cost_forms=cost_forms,
        placements=rows,
        placement_forms=placement_forms,
        programme_names=PROGRAMME_NAMES,
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


@bp.route("/products/<code>/placements/<platform>", methods=["POST"])
@roles_required(Role.RESELLER_ADMIN)
def update_placement(code: str, platform: str) -> Response | tuple[str, int]:
    """Change a product's bill of licences on a platform: a first submit shows the change to confirm."""
    try:
        product = get_product(code)
    except NotFound:
        return render_template("error.html", code=404, title="Not found", message="No such product."), 404
    if platform not in platforms_for(product):
        return render_template("error.html", code=404, title="Not found", message="No such platform."), 404
    key = f"{code}/{platform}"
    form = PlacementForm()
    if not form.validate_on_submit():
        return _render(placement_forms={key: form}, status=422)
    if form.confirmed.data != "yes":
        try:
            _platform, skus = checked_placement(platform, form.sku_codes)
            month = effective_month(form.from_month.data, utcnow(), billing_timezone(), "bills of licences")
        except InvalidInput as error:
            form.skus.errors = [error.message]
            return _render(placement_forms={key: form}, status=error.http_status)
        row = next(row for row in placement_rows([product]) if row.platform == platform)
        return render_template(
            "catalog/placement_confirm.html",
            form=form,
            row=row,
            skus=skus,
            month=month,
            programme_names=PROGRAMME_NAMES,
        ), 200
    with web_transaction(renders=(InvalidInput,)) as attempt:
        month = change_placement(
            Actor.for_user(current_portal_user()),
            product,
            platform,
            form.sku_codes,
            form.from_month.data,
            utcnow(),
            billing_timezone(),
        )
    if attempt.error is not None:
        form.skus.errors = [attempt.error.message]
        return _render(placement_forms={key: form}, status=attempt.error.http_status)
    bill = ", ".join(sorted(code.upper() for code in form.sku_codes)) or "no licence"
    flash(
        f"{product.name} on {PLATFORM_NAMES.get(platform, platform)} needs {bill} from {month.label} on: "
        "the SPLA report, the AWS cost report and the margins of those months use it.",
        "success",
    )
    return redirect(url_for("catalog.index"))
