"""``flask --app wsgi catalog …``."""

from __future__ import annotations

import click
from flask.cli import AppGroup

from metering import billing_timezone, change_placement, change_price, first_unbilled_month
from portal.accounts.services import ensure_reseller
from portal.audit.services import Actor
from portal.catalog.models import LicenceProgramme
from portal.catalog.services import (
    add_licence_sku,
    get_product,
    get_sku,
    list_products,
    seed_catalog,
    set_part_number,
)
from portal.db import utcnow
from portal.errors import InvalidInput
from portal.money import format_amount, parse_amount
from portal.transactions import cli_command

catalog_cli = AppGroup("catalog", help="Products, licence SKUs and prices.")


@catalog_cli.command("seed")
@cli_command
def seed() -> None:
    """Create the default catalog, or add what is missing. Edited prices and placements are kept."""
    ensure_reseller()
    result = seed_catalog(Actor.system("command line"), placements_from=first_unbilled_month())
    if not result.created and not result.updated:
        click.echo("Catalog already up to date.")
    for item in result.created:
        click.echo(f"created {item}")
    for item in result.updated:
        click.echo(f"updated {item}")


@catalog_cli.command("list")
@cli_command
def list_command() -> None:
    """Show products, their licences and prices."""
    for product in list_products(include_inactive=True):
        skus = ", ".join(sku.code for sku in product.skus) or "no licence"
        click.echo(
            f"{product.code:<14} {format_amount(product.price_minor, product.currency):>10}  "
            f"{product.name} ({skus})"
        )


# ignore_unknown_options: a negative AMOUNT ("-5") reaches the amount check instead of reading as
# an unknown option, so it gets the same one-line error as any bad amount.
@catalog_cli.command("set-price", context_settings={"ignore_unknown_options": True})
@click.argument("code")
@click.argument("amount")
@click.option(
    "--from",
    "from_month",
    metavar="YYYY-MM",
    help="The first month billed at this price (default: the next month). "
    "A month with finalized invoices is refused.",
)
@cli_command
def set_price(code: str, amount: str, from_month: str | None) -> None:
    """Set the monthly price of product CODE to AMOUNT (e.g. 41.50), from a month on."""
    try:
        price_minor = parse_amount(amount)
    except ValueError as error:
        raise InvalidInput(str(error)) from None
    product = get_product(code)
    month = change_price(
        Actor.system("command line"), product, price_minor, from_month, utcnow(), billing_timezone()
    )
    click.echo(
        f"{product.code} costs {format_amount(price_minor, product.currency)} a month from {month.label}."
    )


@catalog_cli.command("set-placement")
@click.argument("code")
@click.argument("platform")
@click.argument("skus", nargs=-1)
@click.option(
    "--from",
    "from_month",
    metavar="YYYY-MM",
    help="The first month counted with this bill of licences (default: the next month). "
    "A month with finalized invoices is refused.",
)
@cli_command
def set_placement_command(code: str, platform: str, skus: tuple[str, ...], from_month: str | None) -> None:
    """Place product CODE on PLATFORM (an adapter name) with the bill of licences SKUS (none: no licence)."""
    product = get_product(code)
    month = change_placement(
        Actor.system("command line"), product, platform, list(skus), from_month, utcnow(), billing_timezone()
    )
    bill = ", ".join(sorted(sku.upper() for sku in skus)) or "no licence"
    click.echo(f"{product.code} on {platform.strip().lower()} needs {bill} from {month.label}.")


@catalog_cli.command("add-sku", context_settings={"ignore_unknown_options": True})
@click.argument("code")
@click.argument("name")
@click.argument("cost")
@click.option(
    "--programme",
    type=click.Choice([programme.value for programme in LicenceProgramme]),
    default=LicenceProgramme.SPLA.value,
    show_default=True,
    help="spla: reported to the SPLA distributor; aws: an AWS cost only.",
)
@cli_command
def add_sku_command(code: str, name: str, cost: str, programme: str) -> None:
    """Add licence SKU CODE named NAME costing COST a user a month (e.g. 25.00)."""
    try:
        cost_minor = parse_amount(cost)
    except ValueError as error:
        raise InvalidInput(str(error)) from None
    sku = add_licence_sku(Actor.system("command line"), code, name, cost_minor, LicenceProgramme(programme))
    click.echo(f"{sku.code} ({sku.programme.value}) costs {format_amount(cost_minor, sku.currency)} a month.")


@catalog_cli.command("set-part-number")
@click.argument("code")
@click.argument("part_number")
@cli_command
def set_part_number_command(code: str, part_number: str) -> None:
    """Give licence SKU CODE the Microsoft PART_NUMBER its SPLA report line carries ("" clears it)."""
    sku = set_part_number(Actor.system("command line"), get_sku(code.strip().upper()), part_number)
    click.echo(f"{sku.code} is reported as {sku.part_number or 'no part number'}.")
