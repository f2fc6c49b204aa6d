"""The one interface every platform adapter implements, with typed values in and out.

Every operation is safe to repeat: a worker may die after the platform acted and before Seatmeter
recorded it, and the step then runs again with the same idempotency key. Creating looks the account
up by its deterministic name first; removing something already gone succeeds.
"""

from __future__ import annotations

import enum
from dataclasses import asdict, dataclass, field
from typing import Any, Protocol, runtime_checkable


class AdapterError(Exception):
    """A platform call failed. ``retryable``: throttling, 5xx, timeouts, lost connections.

    Anything else (bad request, quota, a name taken by someone else) is permanent: retrying the
    same request cannot help, a person has to look. ``message`` is plain words for that person.
    """

    def __init__(self, message: str, *, retryable: bool, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.retryable = retryable
        self.code = code


class NotConfigured(AdapterError):
    """The platform for this product is not set up on this installation."""

    def __init__(self, message: str) -> None:
        super().__init__(message, retryable=False, code="NotConfigured")


class AccountState(enum.StrEnum):
    ENABLED = "enabled"
    DISABLED = "disabled"
    PENDING = "pending"  # the platform is still building it


@dataclass(frozen=True)
class SeatUser:
    """The person a seat is for, as the platform needs them."""

    email: str
    display_name: str


@dataclass(frozen=True)
class SeatRequest:
    """What a step asks of the platform, snapshotted when the step was claimed."""

    seat_id: int
    client_ref: str
    product_code: str
    idempotency_key: str
    # The account as far as Seatmeter knows it: its id (None if never recorded) and whose it is.
    external_id: str | None = None
    account_user: str | None = None
    # The person the account should be for after the step (None: nobody, or a VoIP seat).
    user: SeatUser | None = None


@dataclass(frozen=True)
class Account:
    """An account on the platform."""

    external_id: str
    state: AccountState
    # E-mail of the person it is for (None for a VoIP extension, which belongs to the seat).
    user: str | None = None
    # The platform's own name for it (WorkSpaces user name, WorkMail name, SIP user@domain).
    name: str = ""
    # The seat it was made for, when the platform keeps that (WorkSpaces tags); for true-ups.
    seat_id: int | None = None
    # A secret generated for the person (the SIP password); returned by create only.
    secret: str | None = field(default=None, repr=False)


def account_evidence(account: Account) -> dict[str, Any]:
    """The account as a true-up finding keeps it (JSON): every field but the secret."""
    evidence = asdict(account)
    evidence.pop("secret", None)  # never stored
    evidence["state"] = account.state.value
    return evidence


@dataclass(frozen=True)
class Discovered:
    """One account as a true-up reads it, with what the platform's naming says about whose it is."""

    account: Account
    # What the platform returned, for the finding (JSON; never a secret).
    evidence: dict[str, Any]
    # The client the naming points at (Seatmeter may not know it), and how, in words for the reseller.
    client_ref: str | None = None
    named_by: str | None = None
    # Who it is for, lower-cased e-mail or UPN, when the platform names the person.
    person: str | None = None
    # The account's name as ``Adapter.account_name`` makes it from an e-mail (matches a seat whose id
    # was never recorded); None where the platform does not name accounts after people.
    account_key: str | None = None
    # When no e-mail is named, the name Seatmeter's end user would have: the phone extension
    # (``EndUser.extension``), or the sign-in name the adapter makes from the e-mail's local part.
    extension: str | None = None
    sign_in_name: str | None = None


@dataclass(frozen=True)
class FoundAccount:
    """An account a true-up recorded (its finding's account id and evidence): what settling needs."""

    external_id: str
    # The seat the platform keeps on the account, and the client its naming points at.
    seat_id: int | None = None
    client_ref: str | None = None


class Adapter(Protocol):
    """One platform. ``name`` appears in the attempt log and in PROVISIONING_ADAPTERS."""

    name: str

    def create(self, request: SeatRequest) -> Account: ...

    def assign(self, request: SeatRequest) -> Account: ...

    def unassign(self, request: SeatRequest) -> Account | None: ...

    def suspend(self, request: SeatRequest) -> Account: ...

    def resume(self, request: SeatRequest) -> Account: ...

    def terminate(self, request: SeatRequest) -> None: ...

    def describe(self, request: SeatRequest) -> Account | None: ...

    def list_accounts(self) -> list[Account]: ...

    # -- what true-ups need: the platform's naming, so provisioning.trueup has no platform branches --
    def discover(self) -> list[Discovered]:
        """Every account, with its client, person and evidence (one read, no database open)."""
        ...

    def account_name(self, email: str) -> str | None:
        """The name this adapter gives the account of the person with this e-mail (None: not named
        after people), compared with ``Discovered.account_key``."""
        ...

    def extension_of(self, found: FoundAccount) -> str | None:
        """The phone extension the end user of a recorded account would have, if the platform says."""
        ...

    def removal_problem(self, found: FoundAccount) -> str | None:
        """Why Seatmeter must not remove this account itself (a person removes it), or None."""
        ...


@runtime_checkable
class ResetsPassword(Protocol):
    """A platform whose accounts have a password Seatmeter generates (a SIP extension's)."""

    def reset_password(self, request: SeatRequest) -> Account:
        """Give the existing account a new generated password; the Account carries it as ``secret``."""
        ...


class ReplacedOnReassign:
    """For platforms that know an account by its person (a WorkSpace, a mailbox): giving the seat to
    someone else means removing the old person's account and creating the new person's."""

    def assign(self: Adapter, request: SeatRequest) -> Account:
        self.terminate(request)
        return self.create(request)

    def unassign(self: Adapter, request: SeatRequest) -> Account | None:
        self.terminate(request)
        return None
