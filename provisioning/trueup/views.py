"""The reseller's true-up page: findings with their evidence and a proposed settlement, the policies,
and the committed-seat contracts. Reseller staff read it; reseller administrators settle and change.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from sqlalchemy import select
from werkzeug.wrappers import Response

from metering import add_commitment, list_commitments, parse_period
from portal.accounts.models import EndUser, Role
from portal.accounts.services import get_client_by_ref
from portal.audit.services import Actor
from portal.auth.access import RESELLER_ROLES, current_portal_user, roles_required
from portal.catalog.models import Product, ProductBilling
from portal.catalog.services import get_product
from portal.celery_app import enqueue_after_commit
from portal.db import db
from portal.errors import InvalidInput, ServiceError
from portal.transactions import web_transaction
from provisioning.trueup.models import Finding, FindingKind, FindingStatus, Settlement, TrueupPolicy
from provisioning.trueup.services import get_finding, last_run, list_findings
from provisioning.trueup.settlements import (
    Option,
    adoption_products,
    default_product,
    options_for,
    proposed,
    set_policy,
    settle,
)

bp = Blueprint("trueup", __name__, url_prefix="/reseller/trueups")
_FILTERS = ("open", "settled", "dismissed", "all")


@dataclass(frozen=True)
class Row:
    finding: Finding
    options: list[Option]
    proposed: Settlement | None
    products: list[Product]
    default_product: Product | None
    end_users: list[EndUser]


def _row(finding: Finding) -> Row:
    is_open = finding.status is FindingStatus.OPEN
    options = options_for(finding) if is_open else []
    adopting = any(o.settlement is Settlement.ADOPT and o.available for o in options)
    end_users: list[EndUser] = []
    if adopting and finding.client is not None:
        end_users = list(
            db.session.scalars(
                select(EndUser).where(EndUser.client_id == finding.client.id).order_by(EndUser.email)
            )
        )
    return Row(
        finding=finding,
        options=options,
        proposed=proposed(finding) if is_open else None,
        products=adoption_products(finding) if adopting else [],
        default_product=default_product(finding) if adopting else None,
        end_users=end_users,
    )


@bp.route("/")
@roles_required(*RESELLER_ROLES)
def index() -> str:
    show = request.args.get("show", "open")
    if show not in _FILTERS:
        show = "open"
    status = None if show == "all" else FindingStatus(show)
    products = list(
        db.session.scalars(
            select(Product)
            .where(Product.billing == ProductBilling.PER_USER)
            .order_by(Product.kind, Product.code)
        )
    )
    policies = {policy.product_id: policy for policy in db.session.scalars(select(TrueupPolicy))}
    return render_template(
        "trueup/index.html",
        rows=[_row(finding) for finding in list_findings(status)],
        show=show,
        filters=_FILTERS,
        run=last_run(),
        products=products,
        policies=policies,
        kinds=list(FindingKind),
        commitments=list_commitments(),
        can_settle=current_portal_user().role is Role.RESELLER_ADMIN,
    )


@bp.route("/<int:finding_id>/settle", methods=["POST"])
@roles_required(Role.RESELLER_ADMIN)
def settle_finding(finding_id: int) -> Response:
    try:
        finding = get_finding(finding_id)
    except ServiceError:
        abort(404)
    form = request.form
    with web_transaction() as attempt:
        choice = _settlement(form.get("settlement", ""))
        product = get_product(form["product"]) if form.get("product") else None
        end_user = _end_user(finding, form.get("end_user", ""))
        settle(_actor(), finding, choice, product=product, end_user=end_user, reason=form.get("reason"))
    if (error := attempt.error) is not None:
        flash(_message(error), "error")
    else:
        flash(f"Finding #{finding.id}: {choice.label.lower()} — done.", "success")
    return redirect(url_for("trueup.index", show=request.args.get("show", "open")) + f"#finding-{finding_id}")


@bp.route("/run", methods=["POST"])
@roles_required(Role.RESELLER_ADMIN)
def run_now() -> Response:
    """Start a discovery run in the background (it reads every platform, which takes a while)."""
    with web_transaction():
        enqueue_after_commit("trueup.run")
    flash("A true-up run has started; its findings appear here when it is done.", "success")
    return redirect(url_for("trueup.index"))


@bp.route("/policies", methods=["POST"])
@roles_required(Role.RESELLER_ADMIN)
def change_policy() -> Response:
    with web_transaction() as attempt:
        product = get_product(request.form.get("product", ""))
        known = {kind.value for kind in FindingKind}
        kinds = {FindingKind(value) for value in request.form.getlist("auto") if value in known}
        set_policy(_actor(), product, kinds)
    if (error := attempt.error) is not None:
        flash(_message(error), "error")
    else:
        flash(f"{product.name}: the policy is saved.", "success")
    return redirect(url_for("trueup.index") + "#policies")


@bp.route("/commitments", methods=["POST"])
@roles_required(Role.RESELLER_ADMIN)
def new_commitment() -> Response:
    form = request.form
    with web_transaction() as attempt:
        quantity = _whole_number(form.get("quantity", ""))
        ends = form.get("ends", "").strip()
        add_commitment(
            _actor(),
            get_client_by_ref(form.get("client", "")),
            get_product(form.get("product", "")),
            quantity,
            parse_period(form.get("starts"), "starts"),
            parse_period(ends, "ends") if ends else None,
        )
    if (error := attempt.error) is not None:
        flash(_message(error), "error")
    else:
        flash("The commitment is saved; month close bills at least that many seats.", "success")
    return redirect(url_for("trueup.index") + "#commitments")


def _actor() -> Actor:
    return Actor.for_user(current_portal_user())


def _settlement(value: str) -> Settlement:
    try:
        choice = Settlement(value)
    except ValueError:
        raise InvalidInput("Choose how to settle it.", fields={"settlement": "Choose one."}) from None
    if choice is Settlement.RESOLVED:
        raise InvalidInput("Only a run marks a finding resolved.", fields={"settlement": "Choose another."})
    return choice


def _end_user(finding: Finding, value: str) -> EndUser | None:
    if not value:
        return None
    end_user = db.session.get(EndUser, int(value)) if value.isdigit() else None
    if end_user is None or finding.client is None or end_user.client_id != finding.client.id:
        raise InvalidInput("Unknown end user.", fields={"end_user": "Unknown end user."})
    return end_user


def _whole_number(value: str) -> int:
    if not value.strip().isdigit():
        raise InvalidInput("The number of seats is a whole number.", fields={"quantity": "A whole number."})
    return int(value)


def _message(error: ServiceError) -> str:
    extra: list[Any] = [text for text in error.fields.values() if text != error.message]
    return " ".join([error.message, *extra])
