"""Settling findings: adopt, provision again, apply the portal's state, dismiss; and the policies.

* **Adopt** an unbilled account: it becomes a seat of its client (an order of one, placed by whoever
  settles), with the account's id, active from now; a ``trueup`` ledger interval bills the person
  from when the account was first seen until now, so the SPLA report counts it and the month close
  bills it, finalized months through adjustment lines on the next invoice. Adopting what an outside
  system reports orders a seat for the person (it is billed from those reports already).
* **Provision again** a seat whose account is missing: the workers make the account anew.
* **Apply the portal's state**: a drifted seat's account is enabled or suspended again by the
  workers; an unbilled account is removed from the platform (a task, after the commit).
* **Dismiss**, with a reason.

Each is a unit of work the edge commits; the seat changes are provisioning.seats' operations.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select

from metering import IntervalSource, LedgerInterval
from portal.accounts.end_user_services import add_end_user
from portal.accounts.models import EndUser
from portal.audit.services import Actor, record
from portal.catalog.models import Product, ProductBilling
from portal.celery_app import enqueue_after_commit
from portal.db import db, utcnow
from portal.errors import Conflict, InvalidInput
from portal.orders.models import SeatState
from provisioning.seats import (
    adopt_account_as_seat,
    enforce_seat_state,
    lock_seat,
    place_order,
    reprovision_seat,
)
from provisioning.trueup.models import Finding, FindingKind, FindingStatus, Settlement, TrueupPolicy
from provisioning.trueup.platforms import end_user_extension
from provisioning.trueup.removal import TASK as REMOVAL_TASK
from provisioning.trueup.removal import removal_problem

MAX_REASON = 1000
_CHOICES: dict[FindingKind, tuple[Settlement, ...]] = {
    FindingKind.UNBILLED: (Settlement.ADOPT, Settlement.ENFORCE, Settlement.DISMISS),
    FindingKind.ORPHANED: (Settlement.REPROVISION, Settlement.DISMISS),
    FindingKind.STATE_DRIFT: (Settlement.ENFORCE, Settlement.DISMISS),
    FindingKind.EXTERNAL_COUNT: (Settlement.ADOPT, Settlement.DISMISS),
}


@dataclass(frozen=True)
class Option:
    settlement: Settlement
    why_not: str | None = None  # None: possible

    @property
    def available(self) -> bool:
        return self.why_not is None


def options_for(finding: Finding) -> list[Option]:
    """Every settlement the finding's kind allows, each possible or with why not."""
    return [Option(choice, _why_not(finding, choice)) for choice in _CHOICES[finding.kind]]


def proposed(finding: Finding) -> Settlement:
    """What the page proposes, and what a policy applies: the first possible choice."""
    return next(option.settlement for option in options_for(finding) if option.available)


def _why_not(finding: Finding, choice: Settlement) -> str | None:
    if choice is Settlement.DISMISS:
        return None
    if choice is Settlement.ADOPT:
        if finding.client is None:
            return finding.unmapped_reason or "Seatmeter cannot tell which client it belongs to."
        if not adoption_products(finding):
            return "No product of this kind can be ordered."
        return None
    if choice is Settlement.REPROVISION or finding.kind is FindingKind.STATE_DRIFT:
        states = (
            (SeatState.ACTIVE,)
            if choice is Settlement.REPROVISION
            else (SeatState.ACTIVE, SeatState.SUSPENDED)
        )
        if finding.seat is None or finding.seat.state not in states:
            return "The seat has moved on since the finding; run the true-up again."
        return None
    return removal_problem(finding)


def adoption_products(finding: Finding) -> list[Product]:
    """The products the finding may be adopted as (the usage's own product for outside reports)."""
    if finding.kind is FindingKind.EXTERNAL_COUNT:
        return [finding.product] if finding.product is not None else []
    return list(
        db.session.scalars(
            select(Product)
            .where(
                Product.kind == finding.product_kind,
                Product.active.is_(True),
                Product.billing == ProductBilling.PER_USER,
            )
            .order_by(Product.price_minor, Product.code)
        )
    )


def default_product(finding: Finding) -> Product | None:
    """The product whose policy adopts accounts of this kind, else the cheapest one that fits."""
    products = adoption_products(finding)
    if not products:
        return None
    chosen = {policy.product_id for policy in _policies(products) if policy.auto_unbilled}
    return next((product for product in products if product.id in chosen), products[0])


def policy_for(finding: Finding) -> Product | None:
    """The product whose policy settles this finding without a person, if any does."""
    if finding.kind is FindingKind.UNBILLED:
        products = adoption_products(finding)
        return next((p for p in products if any(x.auto_unbilled for x in _policies([p]))), None)
    product = finding.seat.product if finding.seat is not None else finding.product
    if product is None:
        return None
    policy = db.session.get(TrueupPolicy, product.id)
    return product if policy is not None and policy.applies_to(finding.kind) else None


def _policies(products: list[Product]) -> list[TrueupPolicy]:
    ids = [product.id for product in products]
    return list(db.session.scalars(select(TrueupPolicy).where(TrueupPolicy.product_id.in_(ids))))


def settle(
    actor: Actor,
    finding: Finding,
    choice: Settlement,
    *,
    product: Product | None = None,
    end_user: EndUser | None = None,
    reason: str | None = None,
    now: datetime | None = None,
) -> Finding:
    now = now or utcnow()
    if finding.status is not FindingStatus.OPEN:
        raise Conflict(f"Finding #{finding.id} is already {finding.status.value}.")
    if finding.seat is not None and choice in (Settlement.REPROVISION, Settlement.ENFORCE):
        # Decide from the seat as it is now and hold its row until the commit, as the seat services
        # do, so a worker finishing a step on it meanwhile is not overwritten.
        lock_seat(finding.seat)
    option = next((o for o in options_for(finding) if o.settlement is choice), None)
    if option is None:
        raise InvalidInput(
            f"“{choice.label}” does not apply to this finding.", fields={"settlement": "Not possible here."}
        )
    if option.why_not is not None:
        raise Conflict(option.why_not, fields={"settlement": option.why_not})
    reason = (reason or "").strip() or None
    if choice is Settlement.DISMISS and reason is None:
        raise InvalidInput("Say why it is dismissed, for whoever looks next.", fields={"reason": "Required."})
    if reason is not None and len(reason) > MAX_REASON:
        raise InvalidInput(f"At most {MAX_REASON} characters.", fields={"reason": "Too long."})
    details: dict[str, object] = {}
    if choice is Settlement.ADOPT:
        details = _adopt(actor, finding, product, end_user, now)
    elif choice is Settlement.REPROVISION:
        assert finding.seat is not None
        reprovision_seat(finding.seat, now)
        details = {"seat": finding.seat.id}
    elif choice is Settlement.ENFORCE and finding.kind is FindingKind.STATE_DRIFT:
        assert finding.seat is not None
        enforce_seat_state(finding.seat, now)
        details = {"seat": finding.seat.id, "state": finding.seat.desired_state.value}
    elif choice is Settlement.ENFORCE:
        # A broker that is down is logged, not raised: settling again sends it.
        enqueue_after_commit(REMOVAL_TASK, finding.id)
        details = {"remove": finding.account_id}
    finding.status = FindingStatus.DISMISSED if choice is Settlement.DISMISS else FindingStatus.SETTLED
    finding.settlement = choice
    finding.settled_by = actor.label
    finding.settled_by_user_id = actor.user_id
    finding.settled_at = now
    finding.reason = reason
    finding.action_error = None
    db.session.flush()
    record(
        actor,
        f"trueup.{choice.value}",
        "trueup_finding",
        finding.id,
        client_id=finding.client_id,
        details={"platform": finding.platform, "account": finding.account_id, "reason": reason, **details},
    )
    return finding


def _adopt(
    actor: Actor, finding: Finding, product: Product | None, end_user: EndUser | None, now: datetime
) -> dict[str, object]:
    client = finding.client
    assert client is not None
    products = adoption_products(finding)
    product = product or default_product(finding)
    if product is None or product.id not in {p.id for p in products}:
        raise InvalidInput(
            "Choose one of the products of this kind.", fields={"product": "Not a product of this kind."}
        )
    if end_user is not None and end_user.client_id != client.id:
        raise InvalidInput("Unknown end user.", fields={"end_user": "Unknown end user."})
    person = end_user or _person(actor, finding)
    if person is None:
        raise InvalidInput(
            f"Choose who at {client.name} the seat is for: the platform does not name them.",
            fields={"end_user": "Choose the person."},
        )
    if finding.kind is FindingKind.EXTERNAL_COUNT:
        # An order of one, by whoever settles. The workers provision it; the outside system's
        # reports already bill the past.
        seat = place_order(actor, client, product, 1, [person]).seats[0]
        finding.seat, finding.product, finding.user_key = seat, product, person.email.strip().lower()
        return {"seat": seat.id, "product": product.code, "person": finding.user_key}
    user_key = person.email.strip().lower()
    disabled = finding.evidence.get("state") == "disabled"
    seat = adopt_account_as_seat(
        actor,
        client,
        product,
        person,
        external_id=finding.account_id,
        user_key=user_key,
        enabled=not disabled,
        now=now,
    )
    finding.seat, finding.product, finding.user_key = seat, product, user_key
    billed_from = None
    if not disabled and finding.first_seen_at < now:
        # Before today the account was there without a seat: bill it from when it was first seen.
        billed_from = finding.first_seen_at
        db.session.add(
            LedgerInterval(
                client_id=client.id,
                product_id=product.id,
                user_key=finding.user_key,
                end_user_id=person.id,
                seat_id=seat.id,
                source=IntervalSource.TRUEUP,
                start_at=finding.first_seen_at,
                stop_at=now,
            )
        )
    db.session.flush()
    return {
        "seat": seat.id,
        "product": product.code,
        "person": finding.user_key,
        "billed_from": billed_from.isoformat() if billed_from else None,
    }


def _person(actor: Actor, finding: Finding) -> EndUser | None:
    """The client's end user the account is for: by e-mail, by extension, or added by e-mail."""
    client = finding.client
    assert client is not None
    if finding.user_key:
        found = db.session.scalars(
            select(EndUser).where(EndUser.client_id == client.id, EndUser.email == finding.user_key)
        ).first()
        if found is not None:
            return found
        name = finding.user_key.split("@", 1)[0].replace(".", " ").title()
        return add_end_user(actor, client, name, finding.user_key)
    username = end_user_extension(finding)
    if username:
        return db.session.scalars(
            select(EndUser).where(EndUser.client_id == client.id, EndUser.extension == username)
        ).first()
    return None


# --- policies ------------------------------------------------------------------------------------------


def list_policies() -> list[TrueupPolicy]:
    return list(db.session.scalars(select(TrueupPolicy)))


def set_policy(actor: Actor, product: Product, kinds: set[FindingKind]) -> TrueupPolicy:
    """Which kinds of finding about this product are settled without a person."""
    if product.billing is not ProductBilling.PER_USER:
        raise InvalidInput(f"{product.name} is billed by use; it has no seats to true up.")
    if FindingKind.UNBILLED in kinds:
        other = db.session.scalars(
            select(Product)
            .join(TrueupPolicy, TrueupPolicy.product_id == Product.id)
            .where(
                Product.kind == product.kind, Product.id != product.id, TrueupPolicy.auto_unbilled.is_(True)
            )
        ).first()
        if other is not None:
            raise Conflict(
                f"Unbilled {product.kind.value} accounts are already adopted as {other.name}; "
                "change that policy first.",
                fields={"kinds": "One product per kind adopts unbilled accounts."},
            )
    policy = db.session.get(TrueupPolicy, product.id)
    if policy is None:
        policy = TrueupPolicy(product_id=product.id)
        db.session.add(policy)
    for kind in FindingKind:
        setattr(policy, f"auto_{kind.value}", kind in kinds)
    db.session.flush()
    record(
        actor,
        "trueup.policy_set",
        "product",
        product.id,
        details={"product": product.code, "automatic": sorted(kind.value for kind in kinds)},
    )
    return policy
