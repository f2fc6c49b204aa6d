"""``flask --app wsgi catalog …``."""

from __future__ import annotations

import click
from flask.cli import AppGroup

from portal.accounts.services import ensure_reseller
from portal.audit.services import Actor
from portal.catalog.services import get_product, list_products, seed_catalog, set_product_price
from portal.errors import InvalidInput
from portal.money import format_amount, parse_amount
from portal.transactions import cli_command

catalog_cli = AppGroup("catalog", help="Products, licence SKUs and prices.")


@catalog_cli.command("seed")
@cli_command
def seed() -> None:
    """Create the default catalog, or add what is missing. Edited prices are kept."""
    ensure_reseller()
    result = seed_catalog(Actor.system("command line"))
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


@catalog_cli.command("set-price")
@click.argument("code")
@click.argument("amount")
@cli_command
def set_price(code: str, amount: str) -> None:
    """Set the monthly price of product CODE to AMOUNT (e.g. 41.50)."""
    try:
        price_minor = parse_amount(amount)
    except ValueError as error:
        raise InvalidInput(str(error)) from None
    product = get_product(code)
    set_product_price(Actor.system("command line"), product, price_minor)
    click.echo(f"{product.code} now costs {format_amount(price_minor, product.currency)} a month.")
