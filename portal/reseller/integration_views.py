"""The console's Integrations pages: the tools that report usage (an RMM, a PSA), their tokens, which
of their organisation ids stand for which client, and the ids they sent that nobody mapped yet.

Both reseller roles see the pages; only a reseller_admin adds integrations, maps ids, creates or
revokes tokens and sets how per-device products are billed.
"""

from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, url_for
from sqlalchemy import select
from werkzeug.wrappers import Response

from metering import SnapshotAggregate, set_snapshot_aggregate, snapshot_rules
from portal.accounts.integration_services import (
    create_integration,
    create_integration_token,
    get_integration_by_source,
    integration_tokens,
    list_integrations,
    map_source,
    source_mappings,
    unmap_source,
    unmapped_sources,
)
from portal.accounts.models import ApiToken, Client, Integration, Role
from portal.accounts.token_services import revoke_api_token
from portal.auth.access import RESELLER_ROLES, roles_required
from portal.catalog.models import Product, ProductBilling
from portal.db import db
from portal.errors import NotFound
from portal.reseller.forms import ActionForm
from portal.reseller.integration_forms import DeviceRuleForm, IntegrationForm, MappingForm, TokenForm
from portal.reseller.web import actor, error_page, is_admin
from portal.transactions import web_transaction

bp = Blueprint("integrations", __name__, url_prefix="/reseller/integrations")

ADMIN = (Role.RESELLER_ADMIN,)


def _device_products() -> list[Product]:
    return list(
        db.session.scalars(
            select(Product).where(Product.billing == ProductBilling.METERED).order_by(Product.name)
        )
    )


def _render_index(form: IntegrationForm | None = None, status: int = 200) -> tuple[str, int]:
    integrations = list_integrations()
    rules = snapshot_rules()
    return (
        render_template(
            "reseller/integrations.html",
            integrations=[
                (integration, len(source_mappings(integration)), len(unmapped_sources(integration)))
                for integration in integrations
            ],
            form=form or IntegrationForm(),
            devices=[
                (product, rules.get(product.id, SnapshotAggregate.PEAK), _rule_form(product, rules))
                for product in _device_products()
            ],
            admin=is_admin(),
        ),
        status,
    )


def _rule_form(product: Product, rules: dict[int, SnapshotAggregate]) -> DeviceRuleForm:
    form = DeviceRuleForm(prefix=f"p{product.id}")
    form.aggregate.data = rules.get(product.id, SnapshotAggregate.PEAK).value
    return form


@bp.route("/")
@roles_required(*RESELLER_ROLES)
def index() -> tuple[str, int]:
    return _render_index()


@bp.route("/", methods=["POST"])
@roles_required(*ADMIN)
def add() -> Response | tuple[str, int]:
    form = IntegrationForm()
    if not form.validate_on_submit():
        return _render_index(form, 422)
    with web_transaction() as attempt:
        integration = create_integration(actor(), form.source.data or "", form.name.data or "")
    if (error := attempt.error) is not None:
        for name, problem in error.fields.items():
            if name in form:
                form[name].errors = [problem]
        if not error.fields:
            flash(error.message, "error")
        return _render_index(form, 422)
    flash(f"Added {integration.name}. Map its organisation ids and create its token below.", "success")
    return redirect(url_for("integrations.detail", source=integration.source))


@bp.route("/devices/<int:product_id>", methods=["POST"])
@roles_required(*ADMIN)
def device_rule(product_id: int) -> Response | tuple[str, int]:
    product = db.session.get(Product, product_id)
    if product is None:
        return error_page(404, "Not found", "There is no such product.")
    form = DeviceRuleForm(prefix=f"p{product.id}")
    if not form.validate_on_submit():
        return error_page(400, "This form has expired", "Go back, reload the page and try again.")
    with web_transaction() as attempt:
        set_snapshot_aggregate(actor(), product, SnapshotAggregate(form.aggregate.data))
    if (error := attempt.error) is not None:
        flash(error.message, "error")
    else:
        flash(f"{product.name} bills the month's {form.aggregate.data} of its device counts.", "success")
    return redirect(url_for("integrations.index"))


def _integration(source: str) -> Integration | None:
    try:
        return get_integration_by_source(source)
    except NotFound:
        return None


def _not_found() -> tuple[str, int]:
    return error_page(404, "Not found", "There is no integration with this source name.")


def _mapping_form(prefix: str = "", external_org: str | None = None) -> MappingForm:
    form = MappingForm(prefix=prefix)
    form.client.choices = [("", "Choose a client")] + [
        (client.ref, f"{client.name} ({client.ref})")
        for client in db.session.scalars(select(Client).order_by(Client.name))
    ]
    if external_org is not None and not form.is_submitted():
        form.external_org.data = external_org
    return form


def _render_detail(
    integration: Integration,
    *,
    mapping_form: MappingForm | None = None,
    token_form: TokenForm | None = None,
    new_token: str | None = None,
    status: int = 200,
) -> tuple[str, int]:
    unmapped = unmapped_sources(integration)
    return (
        render_template(
            "reseller/integration.html",
            integration=integration,
            mappings=source_mappings(integration),
            unmapped=[(row, _mapping_form(f"u{row.id}", row.external_org)) for row in unmapped],
            tokens=integration_tokens(integration),
            mapping_form=mapping_form or _mapping_form(),
            token_form=token_form or TokenForm(),
            action_form=ActionForm(),
            new_token=new_token,
            admin=is_admin(),
        ),
        status,
    )


@bp.route("/<source>")
@roles_required(*RESELLER_ROLES)
def detail(source: str) -> tuple[str, int]:
    integration = _integration(source)
    if integration is None:
        return _not_found()
    return _render_detail(integration)


@bp.route("/<source>/mappings", methods=["POST"])
@roles_required(*ADMIN)
def map_org(source: str) -> Response | tuple[str, int]:
    return _map(source, "")


@bp.route("/<source>/unmapped/<int:row_id>", methods=["POST"])
@roles_required(*ADMIN)
def map_unmapped(source: str, row_id: int) -> Response | tuple[str, int]:
    # Each unmapped id has its own form on the page, its fields prefixed by its row.
    return _map(source, f"u{row_id}")


def _map(source: str, prefix: str) -> Response | tuple[str, int]:
    integration = _integration(source)
    if integration is None:
        return _not_found()
    form = _mapping_form(prefix)
    if not form.validate_on_submit():
        return _render_detail(integration, mapping_form=_as_main_form(form), status=422)
    client = db.session.scalars(select(Client).where(Client.ref == form.client.data)).first()
    if client is None:
        form.client.errors = ["Choose the client."]
        return _render_detail(integration, mapping_form=_as_main_form(form), status=422)
    with web_transaction() as attempt:
        mapping = map_source(actor(), integration, form.external_org.data or "", client)
    if (error := attempt.error) is not None:
        form.external_org.errors = [error.message]
        return _render_detail(integration, mapping_form=_as_main_form(form), status=422)
    flash(f"{mapping.external_org} is {client.name}'s now.", "success")
    return redirect(url_for("integrations.detail", source=integration.source))


def _as_main_form(form: MappingForm) -> MappingForm:
    """A refused mapping is shown again in the page's main mapping form, with its errors."""
    if not form._prefix:
        return form
    main = _mapping_form()
    main.external_org.data = form.external_org.data
    main.client.data = form.client.data
    main.external_org.errors = list(form.external_org.errors)
    main.client.errors = list(form.client.errors)
    return main


@bp.route("/<source>/unmap/<path:external_org>", methods=["POST"])
@roles_required(*ADMIN)
def unmap(source: str, external_org: str) -> Response | tuple[str, int]:
    integration = _integration(source)
    if integration is None:
        return _not_found()
    if not ActionForm().validate_on_submit():
        return error_page(400, "This form has expired", "Go back, reload the page and try again.")
    with web_transaction() as attempt:
        unmap_source(actor(), integration, external_org)
    if (error := attempt.error) is not None:
        flash(error.message, "error")
    else:
        flash(
            f"{external_org} is no longer mapped: its usage is refused until it is mapped again.", "success"
        )
    return redirect(url_for("integrations.detail", source=integration.source))


@bp.route("/<source>/tokens", methods=["POST"])
@roles_required(*ADMIN)
def create_token(source: str) -> Response | tuple[str, int]:
    integration = _integration(source)
    if integration is None:
        return _not_found()
    form = TokenForm()
    if not form.validate_on_submit():
        return _render_detail(integration, token_form=form, status=422)
    with web_transaction() as attempt:
        _token, raw = create_integration_token(actor(), integration, form.name.data or "")
    if (error := attempt.error) is not None:
        form.name.errors = [error.message]
        return _render_detail(integration, token_form=form, status=422)
    # Shown on this answer only: it is stored as a hash and cannot be shown again.
    return _render_detail(integration, new_token=raw)


@bp.route("/<source>/tokens/<int:token_id>/revoke", methods=["POST"])
@roles_required(*ADMIN)
def revoke_token(source: str, token_id: int) -> Response | tuple[str, int]:
    integration = _integration(source)
    token = db.session.get(ApiToken, token_id)
    if integration is None or token is None or token.integration_id != integration.id:
        return error_page(404, "Not found", "There is no such token.")
    if not ActionForm().validate_on_submit():
        return error_page(400, "This form has expired", "Go back, reload the page and try again.")
    with web_transaction():
        revoke_api_token(actor(), token)
    flash(f"Token “{token.name}” is revoked: the tool can no longer send with it.", "success")
    return redirect(url_for("integrations.detail", source=integration.source))
