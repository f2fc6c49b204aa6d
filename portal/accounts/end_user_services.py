"""End users of a client: the people seats are assigned to (name, e-mail or UPN, extension).

Services flush and never commit; the request, task or command that called them commits.
"""

from __future__ import annotations

import re

from email_validator import EmailNotValidError
from email_validator.syntax import validate_email_local_part
from sqlalchemy import ColumnElement, select

from portal.accounts.models import Client, EndUser
from portal.accounts.services import normalize_email
from portal.audit.services import Actor, record
from portal.db import db
from portal.errors import Conflict, InvalidInput
from portal.orders.models import DesiredState, Seat, SeatState


def _end_user_exists(client: Client, condition: ColumnElement[bool]) -> bool:
    query = select(EndUser.id).where(EndUser.client_id == client.id, condition)
    return db.session.scalars(query).first() is not None


def add_end_user(
    actor: Actor, client: Client, name: str, email: str, extension: str | None = None
) -> EndUser:
    problems = end_user_field_problems(name, email, extension)
    if problems:
        raise InvalidInput("The end user could not be added.", fields=problems)
    email = normalize_email(email)
    extension = (extension or "").strip() or None
    if _end_user_exists(client, EndUser.email == email):
        raise Conflict(
            "Another end user already has this e-mail address.", fields={"email": "Already in use."}
        )
    if extension is not None and _end_user_exists(client, EndUser.extension == extension):
        raise Conflict(
            "Another end user already has this extension.", fields={"extension": "Already in use."}
        )
    end_user = EndUser(client=client, name=name.strip(), email=email, extension=extension)
    db.session.add(end_user)
    db.session.flush()
    record(actor, "end_user.created", "end_user", end_user.id, client_id=client.id, details={"email": email})
    return end_user


# One DNS label: letters, digits and inner hyphens, at most 63 characters.
_DNS_LABEL = r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?"
_UPN_SUFFIX = re.compile(rf"(?=.{{1,253}}\Z){_DNS_LABEL}(?:\.{_DNS_LABEL})*", re.IGNORECASE)
_CONTROL_CHARACTERS = re.compile(r"[\x00-\x1f\x7f]")


def upn_problem(value: str) -> str | None:
    """Why ``value`` is not an e-mail address or user principal name (``alice@corp.local``), if it is not."""
    local, at, suffix = value.strip().rpartition("@")
    if len(value.strip()) > 254 or not at or not local:
        return "Write it as name@domain, e.g. alice@acme.com or alice@corp.local."
    if not _UPN_SUFFIX.fullmatch(suffix):
        return "The part after the @ must be a domain name of letters, digits, hyphens and dots."
    try:
        validate_email_local_part(local, allow_smtputf8=False)
    except EmailNotValidError as error:
        return f"Not a valid e-mail address or UPN: {error}"
    return None


def end_user_field_problems(name: str, email: str, extension: str | None) -> dict[str, str]:
    """What is wrong with an end user's name, sign-in name (e-mail or UPN) and extension, by field.

    The sign-in name may be a user principal name on an internal domain (``alice@corp.local``),
    because that is what the colo's directory and the platforms sign people in with.
    """
    problems: dict[str, str] = {}
    name = name.strip()
    if not name:
        problems["name"] = "Give the person's name."
    elif len(name) > 200 or _CONTROL_CHARACTERS.search(name):
        problems["name"] = "Use at most 200 characters on one line."
    email_problem = upn_problem(email)
    if email_problem:
        problems["email"] = email_problem
    if extension is not None and extension.strip() and not re.fullmatch(r"[0-9]{2,8}", extension.strip()):
        problems["extension"] = "Use 2 to 8 digits."
    return problems


def _live_seat_ids(end_user: EndUser) -> list[int]:
    """Seats this person holds that are not cancelled."""
    return list(
        db.session.scalars(
            select(Seat.id)
            .where(Seat.end_user_id == end_user.id, Seat.desired_state != DesiredState.TERMINATED)
            .order_by(Seat.id)
        )
    )


def _seat_list(seat_ids: list[int]) -> str:
    return ", ".join(f"#{seat_id}" for seat_id in seat_ids)


def update_end_user(
    actor: Actor, end_user: EndUser, *, name: str, email: str, extension: str | None
) -> EndUser:
    """Change a person's name, sign-in name and extension (all three given; "" or None clears the
    extension).

    The sign-in name and the extension are what the platforms know the person by (the WorkMail
    mailbox, the SIP account), so they can only change while the person holds no seat: unassign
    or cancel the seats first. The name can always change.
    """
    problems = end_user_field_problems(name, email, extension)
    if problems:
        raise InvalidInput("The end user could not be saved.", fields=problems)
    name = name.strip()
    email = normalize_email(email)
    extension = (extension or "").strip() or None
    client = end_user.client
    changed = {
        field: {"from": old, "to": new}
        for field, old, new in (
            ("name", end_user.name, name),
            ("email", end_user.email, email),
            ("extension", end_user.extension, extension),
        )
        if old != new
    }
    if not changed:
        return end_user
    if "email" in changed or "extension" in changed:
        live = _live_seat_ids(end_user)
        if live:
            fields = {key: "Cannot change while the person holds seats." for key in changed if key != "name"}
            raise Conflict(
                f"{end_user.name} holds seats {_seat_list(live)}; their e-mail and extension are how the "
                "platforms know them. Unassign or cancel those seats first.",
                fields=fields,
            )
    others = EndUser.id != end_user.id
    if "email" in changed and _end_user_exists(client, (EndUser.email == email) & others):
        raise Conflict(
            "Another end user already has this e-mail address.", fields={"email": "Already in use."}
        )
    if (
        "extension" in changed
        and extension is not None
        and _end_user_exists(client, (EndUser.extension == extension) & others)
    ):
        raise Conflict(
            "Another end user already has this extension.", fields={"extension": "Already in use."}
        )
    end_user.name, end_user.email, end_user.extension = name, email, extension
    db.session.flush()
    record(actor, "end_user.updated", "end_user", end_user.id, client_id=client.id, details=changed)
    return end_user


def remove_end_user(actor: Actor, end_user: EndUser) -> None:
    """Delete a person who holds no seat; refused (Conflict) while they hold one.

    Removing someone is refused rather than unassigning their seats on the fly: taking a seat away
    is a change on the platforms that the client should ask for knowingly, seat by seat. Cancelled
    seats that finished terminating forget the person (the licence ledger keeps their sign-in name
    for billing); seats still terminating hold the removal back until they are done.
    """
    live = _live_seat_ids(end_user)
    if live:
        raise Conflict(
            f"{end_user.name} still holds seats {_seat_list(live)}. Unassign or cancel them first."
        )
    held = list(db.session.scalars(select(Seat).where(Seat.end_user_id == end_user.id).order_by(Seat.id)))
    # A platform account made for the person may outlive the assignment until a worker removes it.
    still_theirs = db.session.scalars(
        select(Seat.id).where(Seat.account_end_user_id == end_user.id).order_by(Seat.id)
    ).all()
    terminating = sorted(
        {seat.id for seat in held if seat.state is not SeatState.TERMINATED} | set(still_theirs)
    )
    if terminating:
        raise Conflict(
            f"{end_user.name}'s accounts on seats {_seat_list(terminating)} are still being removed "
            "from the platforms. Try again in a minute."
        )
    for seat in held:
        seat.end_user = None
    client_id, email = end_user.client_id, end_user.email
    db.session.delete(end_user)
    db.session.flush()
    record(
        actor,
        "end_user.removed",
        "end_user",
        end_user.id,
        client_id=client_id,
        details={"email": email, "detached_seats": [seat.id for seat in held]},
    )
