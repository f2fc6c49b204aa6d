"""The catalog: seeding the default products and licences, and the reseller's price changes."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from flask import current_app
from sqlalchemy import select
from sqlalchemy.orm import selectinload

from portal.audit.services import Actor, record
from portal.catalog.models import (
    HISTORY_START,
    LicenceProgramme,
    LicenceSku,
    LicenceUnit,
    Placement,
    Product,
    ProductBilling,
    ProductKind,
    ProductPrice,
    SkuCost,
)
from portal.config import ADAPTER_CHOICES
from portal.db import db, utcnow
from portal.errors import InvalidInput, NotFound


@dataclass(frozen=True)
class SkuSpec:
    code: str
    name: str
    spla_cost_minor: int
    unit: LicenceUnit = LicenceUnit.PER_USER
    programme: LicenceProgramme = LicenceProgramme.SPLA
    part_number: str | None = None


@dataclass(frozen=True)
class ProductSpec:
    code: str
    name: str
    kind: ProductKind
    price_minor: int
    sku_codes: tuple[str, ...]
    description: str
    billing: ProductBilling = ProductBilling.PER_USER
    unit: str = "user"


# SPLA costs are typical list prices and only a starting point: every reseller's distributor price
# differs, so the reseller edits them on the price book page.
DEFAULT_SKUS = (
    # Part numbers as Microsoft's SPLA price list names them (WinRmtDsktpSrvcsSAL ALNG LicSAPk MVL;
    # WinSvrSTDCore ALNG LicSAPk MVL 2Lic CoreLic), for the SKUs whose number could be checked; the
    # reseller sets the others from its distributor's price list (`catalog set-part-number`).
    SkuSpec("WINRDS-SAL", "Windows Server Remote Desktop Services SAL", 520, part_number="6WC-00002"),
    SkuSpec("OFFSTD-SAL", "Office Standard SAL", 1310),
    SkuSpec("OFFPRO-SAL", "Office Professional Plus SAL", 2010),
    SkuSpec("EXSTD-SAL", "Exchange Server Standard SAL", 420),
    SkuSpec("EXSTDPLUS-SAL", "Exchange Server Standard Plus SAL", 760),
    # Per-core licences for the reseller's own hosts (`flask --app wsgi billing hosts add`).
    SkuSpec(
        "WINSTD-2CORE",
        "Windows Server Standard 2-core pack",
        110,
        LicenceUnit.PER_CORE_PACK,
        part_number="9EM-00562",
    ),
    SkuSpec("WINDC-2CORE", "Windows Server Datacenter 2-core pack", 1330, LicenceUnit.PER_CORE_PACK),
    # Licence included in an AWS service (AWS list prices, us-east-1, monthly billing): a cost of the
    # reseller's, never reported to Microsoft (its SPLA terms exclude AWS hardware).
    SkuSpec(
        "AWS-WSP-STD", "Amazon WorkSpaces Standard bundle (Windows)", 3500, programme=LicenceProgramme.AWS
    ),
    SkuSpec(
        "AWS-WSP-PLUS",
        "Amazon WorkSpaces Standard bundle with Office Professional",
        5000,
        programme=LicenceProgramme.AWS,
    ),
    SkuSpec("AWS-WORKMAIL", "Amazon WorkMail mailbox", 400, programme=LicenceProgramme.AWS),
)

# Where each product runs and the bill of licences it needs there (docs/placements.md): at the colo
# (``active_directory``: the reseller's RDS session hosts) Microsoft SPLA SALs; on AWS the AWS
# service's own licence. A mailbox at the colo's Exchange has no adapter: its intervals name no
# platform and take the product's own bill (EXSTD-SAL); a VoIP seat on Kamailio needs no licence.
DEFAULT_PLACEMENTS: dict[str, dict[str, tuple[str, ...]]] = {
    "desktop": {"workspaces": ("AWS-WSP-STD",), "active_directory": ("WINRDS-SAL", "OFFSTD-SAL")},
    "desktop-pro": {"workspaces": ("AWS-WSP-PLUS",), "active_directory": ("WINRDS-SAL", "OFFPRO-SAL")},
    "exchange": {"workmail": ("AWS-WORKMAIL",)},
    "exchange-plus": {"workmail": ("AWS-WORKMAIL",)},
    "voip": {"kamailio": ()},
}

DEFAULT_PRODUCTS = (
    ProductSpec(
        "desktop",
        "Hosted Desktop",
        ProductKind.DESKTOP,
        3900,
        ("WINRDS-SAL", "OFFSTD-SAL"),
        "A Windows desktop in the cloud with Office Standard.",
    ),
    ProductSpec(
        "desktop-pro",
        "Hosted Desktop Pro",
        ProductKind.DESKTOP,
        4900,
        ("WINRDS-SAL", "OFFPRO-SAL"),
        "A Windows desktop in the cloud with Office Professional Plus.",
    ),
    ProductSpec(
        "exchange",
        "Hosted Exchange Mailbox",
        ProductKind.MAILBOX,
        800,
        ("EXSTD-SAL",),
        "A business mailbox with calendar and contacts.",
    ),
    ProductSpec(
        "exchange-plus",
        "Hosted Exchange Mailbox with Outlook",
        ProductKind.MAILBOX,
        1200,
        ("EXSTDPLUS-SAL",),
        "A business mailbox with the Outlook desktop licence.",
    ),
    ProductSpec(
        "voip",
        "Hosted VoIP Seat",
        ProductKind.VOIP,
        2200,
        (),
        "A phone extension on the hosted phone system.",
    ),
    ProductSpec(
        "voip-minutes",
        "VoIP call minutes",
        ProductKind.VOIP,
        2,
        (),
        "Outbound call minutes, billed per minute as reported by the phone system.",
        billing=ProductBilling.METERED,
        unit="minute",
    ),
)


@dataclass(frozen=True)
class SeedResult:
    created: list[str]
    updated: list[str]


def seed_catalog(actor: Actor, placements_from: str | None = None) -> SeedResult:
    """Create what is missing and refresh names and bills of licences; never touch prices or costs.

    Running it again changes nothing, and a reseller's edited prices survive an upgrade. With
    ``placements_from`` (the first month no finalized invoice billed, which the caller knows; the
    start of history on a new installation), each product is also placed on the platforms of
    :data:`DEFAULT_PLACEMENTS` where it has no placement yet, from that month: a month already
    reported keeps its bill of licences, and a placement the reseller set is never replaced. Without
    it, no placement is added and every platform uses the product's own bill.
    """
    created: list[str] = []
    updated: list[str] = []
    skus = {sku.code: sku for sku in db.session.scalars(select(LicenceSku))}
    for spec in DEFAULT_SKUS:
        sku = skus.get(spec.code)
        if sku is None:
            sku = LicenceSku(
                code=spec.code,
                name=spec.name,
                unit=spec.unit,
                spla_cost_minor=spec.spla_cost_minor,
                programme=spec.programme,
                part_number=spec.part_number,
            )
            db.session.add(sku)
            # A new SKU's cost holds for every month, as migration 0013 did for the existing ones.
            sku.costs.append(SkuCost(effective_from=HISTORY_START, amount_minor=spec.spla_cost_minor))
            skus[spec.code] = sku
            created.append(f"SKU {spec.code}")
        elif (sku.name, sku.unit) != (spec.name, spec.unit) or (spec.part_number and not sku.part_number):
            sku.name, sku.unit = spec.name, spec.unit
            # A part number the reseller set is its own: only a missing one is filled in.
            sku.part_number = sku.part_number or spec.part_number
            updated.append(f"SKU {spec.code}")

    products = {
        product.code: product
        for product in db.session.scalars(select(Product).options(selectinload(Product.skus)))
    }
    for product_spec in DEFAULT_PRODUCTS:
        wanted_skus = [skus[code] for code in product_spec.sku_codes]
        product = products.get(product_spec.code)
        if product is None:
            product = Product(
                code=product_spec.code,
                name=product_spec.name,
                kind=product_spec.kind,
                price_minor=product_spec.price_minor,
                description=product_spec.description,
                skus=wanted_skus,
                billing=product_spec.billing,
                unit=product_spec.unit,
            )
            product.prices.append(
                ProductPrice(effective_from=HISTORY_START, amount_minor=product_spec.price_minor)
            )
            db.session.add(product)
            created.append(f"product {product_spec.code}")
        elif (product.name, product.kind, sorted(s.code for s in product.skus)) != (
            product_spec.name,
            product_spec.kind,
            sorted(product_spec.sku_codes),
        ):
            product.name, product.kind, product.skus = product_spec.name, product_spec.kind, wanted_skus
            updated.append(f"product {product_spec.code}")
        if placements_from is not None:
            created += _place(product, skus, placements_from)
    db.session.flush()
    if created or updated:
        record(actor, "catalog.seeded", "catalog", details={"created": created, "updated": updated})
    return SeedResult(created=created, updated=updated)


def _place(product: Product, skus: dict[str, LicenceSku], effective_from: str) -> list[str]:
    """Default placements of ``product`` on the platforms where it has none yet; what was added."""
    placed = set()
    if product.id is not None:
        placed = set(db.session.scalars(select(Placement.platform).where(Placement.product_id == product.id)))
    added = []
    for platform, codes in DEFAULT_PLACEMENTS.get(product.code, {}).items():
        if platform in placed:
            continue
        bill = sorted((skus[code] for code in codes), key=lambda sku: sku.code)
        db.session.add(
            Placement(product=product, platform=platform, effective_from=effective_from, skus=bill)
        )
        added.append(f"placement {product.code} on {platform} from {effective_from}")
    return added


def list_products(*, include_inactive: bool = False) -> list[Product]:
    query = select(Product).options(selectinload(Product.skus)).order_by(Product.price_minor, Product.code)
    if not include_inactive:
        query = query.where(Product.active.is_(True))
    return list(db.session.scalars(query))


def list_skus() -> list[LicenceSku]:
    return list(db.session.scalars(select(LicenceSku).order_by(LicenceSku.code)))


def get_product(code: str) -> Product:
    if "\x00" in code:
        # No code has one, and PostgreSQL cannot even compare text that does (a 500 before).
        raise NotFound("No product with this code.")
    product = db.session.scalars(
        select(Product).options(selectinload(Product.skus)).where(Product.code == code)
    ).first()
    if product is None:
        raise NotFound(f"No product with the code “{code}”.")
    return product


def get_sku(code: str) -> LicenceSku:
    sku = db.session.scalars(select(LicenceSku).where(LicenceSku.code == code)).first()
    if sku is None:
        raise NotFound(f"No licence SKU with the code “{code}”.")
    return sku


_MONTH_RE = re.compile(r"[0-9]{4}-(0[1-9]|1[0-2])")


def month_of(instant: datetime) -> str:
    """The billing month ("YYYY-MM") containing ``instant``, cut in ``BILLING_TIMEZONE``."""
    zone = ZoneInfo(current_app.config.get("BILLING_TIMEZONE") or "UTC")
    return f"{instant.astimezone(zone):%Y-%m}"


def in_force(history: list[ProductPrice] | list[SkuCost], month: str) -> ProductPrice | SkuCost | None:
    """The row of ``history`` in force in ``month``: the latest one that starts in it or before."""
    rows = [row for row in history if row.effective_from <= month]
    return max(rows, key=lambda row: row.effective_from) if rows else None


def _newest(history: Sequence[ProductPrice | SkuCost]) -> ProductPrice | SkuCost:
    return max(history, key=lambda row: row.effective_from)


def set_product_price(
    actor: Actor, product: Product, price_minor: int, effective_from: str | None = None
) -> None:
    """Change a monthly price from ``effective_from`` ("YYYY-MM") on; without it, from this month.

    This only records the change. The command line and the price book call
    ``metering.change_price``, which picks the default month (the next one) and refuses a month
    that has finalized invoices before it gets here.
    """
    _change_amount(
        actor,
        product,
        product.prices,
        ProductPrice,
        "price_minor",
        price_minor,
        effective_from,
        "price",
        "catalog.price_changed",
        "product",
    )


def set_sku_cost(actor: Actor, sku: LicenceSku, cost_minor: int, effective_from: str | None = None) -> None:
    """Change what a licence SKU costs the reseller from ``effective_from`` on (as set_product_price)."""
    _change_amount(
        actor,
        sku,
        sku.costs,
        SkuCost,
        "spla_cost_minor",
        cost_minor,
        effective_from,
        "cost",
        "catalog.sku_cost_changed",
        "licence_sku",
    )


def _change_amount(
    actor: Actor,
    item: Product | LicenceSku,
    history: list[ProductPrice] | list[SkuCost],
    row_type: type[ProductPrice] | type[SkuCost],
    attribute: str,
    amount_minor: int,
    effective_from: str | None,
    field: str,
    action: str,
    object_type: str,
) -> None:
    if amount_minor < 0:
        raise InvalidInput("The amount must be zero or more.", fields={field: "Must be zero or more."})
    if effective_from is not None and not _MONTH_RE.fullmatch(effective_from):
        raise InvalidInput(
            f"“{effective_from}” is not a month: write YYYY-MM, e.g. 2026-11.",
            fields={"from_month": "YYYY-MM."},
        )
    current = month_of(utcnow())
    month = effective_from or current
    before = in_force(history, month)
    old = before.amount_minor if before is not None else getattr(item, attribute)
    same_month = before if before is not None and before.effective_from == month else None
    if amount_minor == old:
        return
    if same_month is not None:
        same_month.amount_minor = amount_minor
    else:
        history.append(row_type(effective_from=month, amount_minor=amount_minor, currency=item.currency))  # type: ignore[arg-type]
    # The column holds the newest price set, the list price going forward that the price book and
    # the catalog pages show. Billing and quotes read the history for their month instead.
    setattr(item, attribute, _newest(history).amount_minor)
    db.session.flush()
    details: dict[str, object] = {"from_minor": old, "to_minor": amount_minor, "currency": item.currency}
    if effective_from is not None:
        details["effective_from"] = effective_from
    record(actor, action, object_type, item.code, details=details)


_SKU_CODE_RE = re.compile(r"[A-Z0-9][A-Z0-9-]{0,31}")


def add_licence_sku(
    actor: Actor, code: str, name: str, cost_minor: int, programme: LicenceProgramme, currency: str = "USD"
) -> LicenceSku:
    """A new per-user licence SKU of ``programme``, costing ``cost_minor`` a user a month for every
    month (as seeded SKUs do), e.g. the AWS WorkSpaces bundle a WorkSpaces desktop runs on."""
    code, name = code.strip().upper(), name.strip()
    if not _SKU_CODE_RE.fullmatch(code):
        raise InvalidInput(f"“{code}” is not a SKU code: up to 32 letters, digits and dashes.")
    if not name or len(name) > 200:
        raise InvalidInput("Give the SKU a name of at most 200 characters.")
    if cost_minor < 0:
        raise InvalidInput("The cost must be zero or more.")
    if db.session.scalars(select(LicenceSku.id).where(LicenceSku.code == code)).first() is not None:
        raise InvalidInput(f"A licence SKU with the code {code} already exists.")
    sku = LicenceSku(code=code, name=name, spla_cost_minor=cost_minor, currency=currency, programme=programme)
    sku.costs.append(SkuCost(effective_from=HISTORY_START, amount_minor=cost_minor, currency=currency))
    db.session.add(sku)
    db.session.flush()
    record(actor, "catalog.sku_added", "licence_sku", sku.id, details={"code": code, "programme": programme})
    return sku


_PART_NUMBER_RE = re.compile(r"[A-Z0-9]{3}-[0-9]{5}")


def set_part_number(actor: Actor, sku: LicenceSku, part_number: str) -> LicenceSku:
    """Set (or, with an empty one, clear) the Microsoft part number the SPLA report lists ``sku`` under."""
    part_number = part_number.strip().upper()
    if part_number and not _PART_NUMBER_RE.fullmatch(part_number):
        raise InvalidInput(
            f"“{part_number}” is not a Microsoft part number: three letters or digits, a dash and five "
            "digits, like 6WC-00002."
        )
    before = sku.part_number
    sku.part_number = part_number or None
    db.session.flush()
    record(
        actor,
        "catalog.sku_part_number_set",
        "licence_sku",
        sku.id,
        details={"code": sku.code, "from": before, "to": sku.part_number},
    )
    return sku


def platforms() -> list[str]:
    """The platforms a product can be placed on: the adapters PROVISIONING_ADAPTERS may name."""
    return sorted({name for names in ADAPTER_CHOICES.values() for name in names if name != "none"})


def placement_in_force(product: Product, platform: str, month: str) -> Placement | None:
    """The placement of ``product`` on ``platform`` in force in ``month``, if it has one."""
    rows = [
        row
        for row in db.session.scalars(
            select(Placement).where(Placement.product_id == product.id, Placement.platform == platform)
        )
        if row.effective_from <= month
    ]
    return max(rows, key=lambda row: row.effective_from) if rows else None


def platforms_for(product: Product) -> list[str]:
    """The platforms that can serve ``product``'s kind (its adapters), in ADAPTER_CHOICES' order."""
    return [name for name in ADAPTER_CHOICES.get(str(product.kind), ()) if name != "none"]


def checked_placement(platform: str, sku_codes: Sequence[str]) -> tuple[str, list[LicenceSku]]:
    """The platform's name and the SKUs of a bill of licences, by code; a plain InvalidInput otherwise."""
    platform = platform.strip().lower()
    if platform not in platforms():
        raise InvalidInput(f"“{platform}” is not a platform: choose one of {', '.join(platforms())}.")
    codes = sorted({code.strip().upper() for code in sku_codes if code.strip()})
    skus = list(db.session.scalars(select(LicenceSku).where(LicenceSku.code.in_(codes))))
    unknown = sorted(set(codes) - {sku.code for sku in skus})
    if unknown:
        raise InvalidInput(f"No licence SKU with the code {', '.join(unknown)}; nothing was changed.")
    return platform, sorted(skus, key=lambda sku: sku.code)


def set_placement(
    actor: Actor, product: Product, platform: str, sku_codes: Sequence[str], effective_from: str
) -> Placement:
    """Place ``product`` on ``platform`` with the bill of licences ``sku_codes`` from ``effective_from``.

    This only records the change: ``metering.change_placement`` picks the month and refuses one that
    has finalized invoices before it gets here. Every problem is one plain line, nothing saved.
    """
    if not _MONTH_RE.fullmatch(effective_from):
        raise InvalidInput(f"“{effective_from}” is not a month: write YYYY-MM, e.g. 2026-11.")
    platform, skus = checked_placement(platform, sku_codes)
    codes = [sku.code for sku in skus]
    placement = db.session.scalars(
        select(Placement).where(
            Placement.product_id == product.id,
            Placement.platform == platform,
            Placement.effective_from == effective_from,
        )
    ).first()
    if placement is None:
        placement = Placement(product=product, platform=platform, effective_from=effective_from)
        db.session.add(placement)
    placement.skus = sorted(skus, key=lambda sku: sku.code)
    db.session.flush()
    record(
        actor,
        "catalog.placement_changed",
        "product",
        product.id,
        details={"platform": platform, "from": effective_from, "skus": codes},
    )
    return placement
