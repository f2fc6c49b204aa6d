"""How a seat's state reads to a client: the words on the page and in the live-update JSON.

One place decides the wording, so a seat looks the same when the page is rendered and after the
browser has refreshed it from ``/client/seats/states.json``. It reads provisioning's one definition
of "at rest", so it sits with the seat pages above the engines, not in portal's kernel.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from portal.catalog.models import Product
from portal.orders.models import DesiredState, Seat, SeatState
from provisioning import NAMED_USER_KINDS, is_at_rest

STATE_LABELS: dict[SeatState, str] = {
    SeatState.ORDERED: "Ordered",
    SeatState.PROVISIONING: "Provisioning",
    SeatState.ACTIVE: "Active",
    SeatState.SUSPENDING: "Suspending",
    SeatState.SUSPENDED: "Suspended",
    SeatState.RESUMING: "Resuming",
    SeatState.TERMINATING: "Cancelling",
    SeatState.TERMINATED: "Cancelled",
    SeatState.FAILED: "Failed",
}

FAILED_WITHOUT_REASON = "Setting this seat up did not work. Try again, or ask your provider."


@dataclass(frozen=True)
class SeatStatus:
    id: int
    state: str
    label: str
    # A short line under the badge: what is about to happen, or why it failed.
    note: str | None
    error: str | None
    settled: bool
    end_user: str | None
    end_user_email: str | None

    def as_json(self) -> dict[str, Any]:
        return asdict(self)


def waits_for_a_person(seat: Seat) -> bool:
    """A desktop or mailbox is created for a named person: unassigned, it rests in `ordered`."""
    return (
        seat.state is SeatState.ORDERED
        and seat.desired_state is DesiredState.ACTIVE
        and seat.end_user_id is None
        and seat.product.kind in NAMED_USER_KINDS
    )


def bills_while_unassigned(product: Product) -> bool:
    """Seats of this product are in service without a person (a VoIP extension): they bill unassigned.

    A desktop or mailbox waits for its person before anything is made, so it bills only once assigned.
    """
    return product.kind not in NAMED_USER_KINDS


def seat_status(seat: Seat) -> SeatStatus:
    note = None
    waiting = waits_for_a_person(seat)
    if waiting:
        note = "Set up once you assign it to a person"
    elif seat.state is not SeatState.TERMINATED:
        if seat.desired_state is DesiredState.TERMINATED and seat.state is not SeatState.TERMINATING:
            note = "Cancellation requested"
        elif seat.desired_state is DesiredState.SUSPENDED and seat.state not in (
            SeatState.SUSPENDING,
            SeatState.SUSPENDED,
        ):
            note = "Suspension requested"
        elif seat.desired_state is DesiredState.ACTIVE and seat.state in (
            SeatState.SUSPENDED,
            SeatState.SUSPENDING,
        ):
            note = "Resuming requested"
    error = None
    if seat.state is SeatState.FAILED:
        error = seat.last_error or FAILED_WITHOUT_REASON
    return SeatStatus(
        id=seat.id,
        state=seat.state.value,
        label=STATE_LABELS[seat.state],
        note=note,
        error=error,
        settled=waiting or is_at_rest(seat),
        end_user=seat.end_user.name if seat.end_user is not None else None,
        end_user_email=seat.end_user.email if seat.end_user is not None else None,
    )
