"""Removing an unbilled account from its platform ("apply the portal's state": nobody has it).

Done by a Celery task after the commit that settled the finding, through the adapter's ``terminate``
with a request naming the account, so it is safe to repeat (an account already gone is fine). The
directory adapter only takes a stranger out of the client's RDS group; it deletes users it made. If
the platform refuses, the finding opens again with the platform's reason.
"""

from __future__ import annotations

from portal.audit.services import Actor, record
from portal.db import db
from portal.transactions import task_transaction
from provisioning.adapters import adapter_name_for, get_adapter
from provisioning.adapters.base import AdapterError, NotConfigured, SeatRequest
from provisioning.redaction import redact
from provisioning.trueup.models import USAGE_PLATFORM, Finding, FindingKind, FindingStatus, Settlement
from provisioning.trueup.platforms import found_account, naming_of

SYSTEM = Actor.system("true-up")
TASK = "trueup.remove_account"


def removal_problem(finding: Finding) -> str | None:
    """Why Seatmeter cannot remove this account itself, or None if it can."""
    if finding.platform == USAGE_PLATFORM:
        return "Seatmeter cannot remove what an outside system reports."
    try:
        serving = adapter_name_for(finding.product_kind)
    except KeyError:
        serving = "none"
    if serving != finding.platform:
        return (
            f"{finding.platform} no longer serves {finding.product_kind} seats here; remove it there by hand."
        )
    adapter = naming_of(finding.platform, finding.product_kind)
    # An adapter that cannot be built is not refused here: the removal task reports why it failed.
    return adapter.removal_problem(found_account(finding)) if adapter is not None else None


def removal_request(finding: Finding) -> SeatRequest:
    """A request naming the account: its id, and the seat and client its name points at."""
    seat = finding.seat
    evidence = finding.evidence
    seat_id = seat.id if seat is not None else int(evidence.get("seat_id") or 0)
    client_ref = evidence.get("named_client") or (
        seat.client.ref if seat is not None else finding.client.ref if finding.client is not None else ""
    )
    return SeatRequest(
        seat_id=seat_id,
        client_ref=str(client_ref),
        product_code=finding.product.code if finding.product is not None else finding.product_kind,
        idempotency_key=f"seatmeter-trueup-{finding.id}-remove",
        external_id=finding.account_id,
        account_user=finding.user_key,
    )


def remove_account_now(finding_id: int, *, give_up: bool = True) -> str:
    """Remove the finding's account; commits. Raises a retryable AdapterError unless ``give_up``."""
    # Read in a transaction of its own: none stays open during the platform call.
    with task_transaction():
        finding = db.session.get(Finding, finding_id)
        if (
            finding is None
            or finding.kind is not FindingKind.UNBILLED
            or finding.status is not FindingStatus.SETTLED
            or finding.settlement is not Settlement.ENFORCE
        ):
            return "nothing to do"
        kind, request = finding.product_kind, removal_request(finding)
    try:
        get_adapter(kind).terminate(request)
        error: AdapterError | None = None
    except NotConfigured as problem:
        error = problem
    except AdapterError as problem:
        if problem.retryable and not give_up:
            raise
        error = problem
    with task_transaction():
        finding = db.session.get(Finding, finding_id)
        assert finding is not None
        if error is None:
            record(
                SYSTEM,
                "trueup.account_removed",
                "trueup_finding",
                finding.id,
                client_id=finding.client_id,
                details={"platform": finding.platform, "account": finding.account_id},
            )
            return "removed"
        finding.status = FindingStatus.OPEN
        finding.action_error = redact(error.message)
        record(
            SYSTEM,
            "trueup.removal_failed",
            "trueup_finding",
            finding.id,
            client_id=finding.client_id,
            details={
                "platform": finding.platform,
                "account": finding.account_id,
                "error": finding.action_error,
            },
        )
    return f"failed: {finding.action_error}"
