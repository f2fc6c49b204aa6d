"""Changing accounts: clients, portal users, invitations, password resets, end users, API tokens.

Services flush and never commit; the request, task or command that called them commits.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from datetime import timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from email_validator import EmailNotValidError
from email_validator.syntax import validate_email_local_part
from sqlalchemy import ColumnElement, select

from portal.accounts.models import (
    ApiToken,
    Client,
    EndUser,
    OneTimeToken,
    Reseller,
    Role,
    TokenPurpose,
    User,
)
from portal.audit.services import Actor, record
from portal.db import db, utcnow
from portal.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from portal.notifications.services import public_link, send_email_after_commit
from portal.orders.models import DesiredState, Seat, SeatState

_hasher = PasswordHasher()
# Verified against when the e-mail is unknown, so a login takes as long whether or not the
# account exists.
_DUMMY_HASH = _hasher.hash("not-a-real-password")

CLIENT_REF_PATTERN = re.compile(r"^[a-z0-9][a-z0-9-]{1,30}[a-z0-9]$")
MIN_PASSWORD_LENGTH = 10
INVITATION_LIFETIME = timedelta(days=7)
PASSWORD_RESET_LIFETIME = timedelta(hours=1)
API_TOKEN_PREFIX = "smt_"


def normalize_email(email: str) -> str:
    return email.strip().lower()


def _digest(raw_token: str) -> str:
    # Tokens are 256 random bits, so a fast hash is enough; it lets us find a token by its hash.
    return hashlib.sha256(raw_token.encode()).hexdigest()


# --- the reseller -------------------------------------------------------------------------------


def get_reseller() -> Reseller | None:
    return db.session.scalars(select(Reseller).order_by(Reseller.id).limit(1)).first()


def ensure_reseller(name: str = "Your managed-service provider") -> Reseller:
    reseller = get_reseller()
    if reseller is None:
        reseller = Reseller(name=name)
        db.session.add(reseller)
        db.session.flush()
    return reseller


# --- passwords ----------------------------------------------------------------------------------


def password_problems(password: str, email: str | None = None) -> list[str]:
    problems = []
    if len(password) < MIN_PASSWORD_LENGTH:
        problems.append(f"Use at least {MIN_PASSWORD_LENGTH} characters.")
    if len(set(password)) < 4:
        problems.append("Use more different characters.")
    if email and password.strip().lower() == normalize_email(email):
        problems.append("Do not use your e-mail address as your password.")
    return problems


def _set_password(user: User, password: str) -> None:
    problems = password_problems(password, user.email)
    if problems:
        raise InvalidInput(" ".join(problems), fields={"password": " ".join(problems)})
    user.password_hash = _hasher.hash(password)
    user.session_version += 1


def authenticate(email: str, password: str) -> User | None:
    """The active user with this e-mail and password, or None (without saying which was wrong)."""
    user = db.session.scalars(select(User).where(User.email == normalize_email(email))).first()
    stored_hash = user.password_hash if user is not None and user.password_hash else _DUMMY_HASH
    try:
        _hasher.verify(stored_hash, password)
    except (VerificationError, InvalidHashError):
        return None
    if user is None or not user.is_active:
        return None
    if _hasher.check_needs_rehash(stored_hash):
        user.password_hash = _hasher.hash(password)
    user.last_login_at = utcnow()
    db.session.flush()
    return user


def load_user_for_session(session_id: str) -> User | None:
    """Flask-Login's user loader: ``"<id>:<session_version>"``; a stale version logs out."""
    user_id, _, version = session_id.partition(":")
    if not user_id.isdigit() or not version.isdigit():
        return None
    user = db.session.get(User, int(user_id))
    if user is None or user.session_version != int(version) or not user.is_active:
        return None
    return user


# --- clients and portal users -------------------------------------------------------------------


def create_client(actor: Actor, ref: str, name: str, billing_email: str | None = None) -> Client:
    ref = ref.strip().lower()
    name = name.strip()
    fields = {}
    if not CLIENT_REF_PATTERN.match(ref):
        fields["ref"] = "Use 3 to 32 lowercase letters, digits or hyphens, e.g. acme."
    if not name:
        fields["name"] = "Give the client's name."
    if fields:
        raise InvalidInput("The client could not be created.", fields=fields)
    if db.session.scalars(select(Client.id).where(Client.ref == ref)).first() is not None:
        raise Conflict(
            f"A client with the reference “{ref}” already exists.", fields={"ref": "Already taken."}
        )
    client = Client(
        ref=ref, name=name, billing_email=normalize_email(billing_email) if billing_email else None
    )
    db.session.add(client)
    db.session.flush()
    record(
        actor, "client.created", "client", client.id, client_id=client.id, details={"ref": ref, "name": name}
    )
    return client


def get_client_by_ref(ref: str) -> Client:
    client = db.session.scalars(select(Client).where(Client.ref == ref.strip().lower())).first()
    if client is None:
        raise NotFound(f"No client with the reference “{ref}”.")
    return client


def _ensure_email_free(email: str) -> None:
    if db.session.scalars(select(User.id).where(User.email == email)).first() is not None:
        raise Conflict("A user with this e-mail address already exists.", fields={"email": "Already in use."})


def _new_user(email: str, name: str, role: Role, client: Client | None) -> User:
    email = normalize_email(email)
    if role.is_reseller != (client is None):
        raise InvalidInput("Client roles need a client; reseller roles must not have one.")
    _ensure_email_free(email)
    return User(email=email, name=name.strip() or email, role=role, client=client, session_version=0)


def _record_user(actor: Actor, action: str, user: User) -> None:
    record(
        actor,
        action,
        "user",
        user.id,
        client_id=user.client_id,
        details={"email": user.email, "role": user.role.value},
    )


def create_user_with_password(
    actor: Actor, email: str, name: str, role: Role, client: Client | None, password: str
) -> User:
    """Create a user who can log in at once (operators at the command line, demo data)."""
    user = _new_user(email, name, role, client)
    _set_password(user, password)
    db.session.add(user)
    db.session.flush()
    _record_user(actor, "user.created", user)
    return user


def invite_user(actor: Actor, email: str, name: str, role: Role, client: Client | None) -> User:
    """Create a user without a password and e-mail them a link to choose one."""
    user = _new_user(email, name, role, client)
    db.session.add(user)
    db.session.flush()
    raw = _issue_one_time_token(user, TokenPurpose.INVITATION, INVITATION_LIFETIME)
    where = client.name if client else "the reseller console"
    send_email_after_commit(
        user.email,
        f"You are invited to {where} on Seatmeter",
        f"Hello {user.name},\n\n{actor.label} invited you to {where} on Seatmeter as {role.label.lower()}.\n"
        f"Choose your password here (the link works once, for 7 days):\n\n"
        f"{public_link('auth.accept_invitation', token=raw)}\n",
    )
    _record_user(actor, "user.invited", user)
    return user


def _issue_one_time_token(user: User, purpose: TokenPurpose, lifetime: timedelta) -> str:
    raw = secrets.token_urlsafe(32)
    db.session.add(
        OneTimeToken(user=user, purpose=purpose, token_hash=_digest(raw), expires_at=utcnow() + lifetime)
    )
    db.session.flush()
    return raw


def find_one_time_token(raw: str, purpose: TokenPurpose) -> OneTimeToken:
    token = db.session.scalars(
        select(OneTimeToken).where(OneTimeToken.token_hash == _digest(raw), OneTimeToken.purpose == purpose)
    ).first()
    if token is None or token.used_at is not None or token.expires_at <= utcnow():
        raise NotFound("This link is not valid any more. Links work once and expire; ask for a new one.")
    return token


def _choose_password_with_token(raw_token: str, purpose: TokenPurpose, password: str, action: str) -> User:
    token = find_one_time_token(raw_token, purpose)
    user = token.user
    _set_password(user, password)
    token.used_at = utcnow()
    db.session.flush()
    record(Actor.for_user(user), action, "user", user.id, client_id=user.client_id)
    return user


def accept_invitation(raw_token: str, password: str) -> User:
    return _choose_password_with_token(
        raw_token, TokenPurpose.INVITATION, password, "user.invitation_accepted"
    )


def request_password_reset(email: str) -> None:
    """E-mail a reset link if the account exists; say nothing either way (no account probing)."""
    user = db.session.scalars(select(User).where(User.email == normalize_email(email))).first()
    if user is None or not user.active or user.password_hash is None:
        return
    raw = _issue_one_time_token(user, TokenPurpose.PASSWORD_RESET, PASSWORD_RESET_LIFETIME)
    send_email_after_commit(
        user.email,
        "Reset your Seatmeter password",
        f"Hello {user.name},\n\nSomeone (hopefully you) asked to reset your Seatmeter password.\n"
        f"Choose a new one here (the link works once, for 1 hour):\n\n"
        f"{public_link('auth.reset_password', token=raw)}\n\n"
        "If you did not ask for this, ignore this e-mail; your password stays as it is.\n",
    )
    record(
        Actor.system("password reset"),
        "user.password_reset_requested",
        "user",
        user.id,
        client_id=user.client_id,
    )


def reset_password(raw_token: str, password: str) -> User:
    return _choose_password_with_token(
        raw_token, TokenPurpose.PASSWORD_RESET, password, "user.password_reset"
    )


def client_users(client: Client) -> list[User]:
    return list(db.session.scalars(select(User).where(User.client_id == client.id).order_by(User.email)))


# --- end users ----------------------------------------------------------------------------------


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


# --- API tokens ---------------------------------------------------------------------------------


def create_api_token(
    actor: Actor, name: str, role: Role, client: Client | None, owner: User | None = None
) -> tuple[ApiToken, str]:
    """Create a token; the raw token is returned once and never stored.

    ``owner`` is the portal user the token belongs to; a client_user token sees that person's seats.
    """
    name = name.strip()
    if not name:
        raise InvalidInput("Give the token a name that says what uses it.", fields={"name": "Required."})
    if role.is_reseller and client is not None:
        raise InvalidInput("A reseller token acts for every client; do not give it a client.")
    if not role.is_reseller and client is None:
        raise InvalidInput(f"A {role.value} token needs the client it acts for.")
    if owner is not None and owner.client_id != (client.id if client else None):
        raise InvalidInput(
            f"{owner.email} does not belong to the token's client.", fields={"user": "Wrong client."}
        )
    raw = API_TOKEN_PREFIX + secrets.token_urlsafe(32)
    token = ApiToken(
        name=name,
        role=role,
        client=client,
        token_hash=_digest(raw),
        token_prefix=raw[:10],
        created_by_id=owner.id if owner else actor.user_id,
    )
    db.session.add(token)
    db.session.flush()
    record(
        actor,
        "api_token.created",
        "api_token",
        token.id,
        client_id=client.id if client else None,
        details={"name": name, "role": role.value},
    )
    return token, raw


def authenticate_api_token(raw: str) -> ApiToken | None:
    token = db.session.scalars(select(ApiToken).where(ApiToken.token_hash == _digest(raw.strip()))).first()
    if token is None or token.revoked_at is not None:
        return None
    token.last_used_at = utcnow()
    db.session.flush()
    return token


def revoke_api_token(actor: Actor, token: ApiToken) -> None:
    if token.revoked_at is None:
        token.revoked_at = utcnow()
        db.session.flush()
        record(actor, "api_token.revoked", "api_token", token.id, client_id=token.client_id)


def ensure_can_manage_client_users(user: User, client: Client) -> None:
    if user.role is not Role.CLIENT_ADMIN or user.client_id != client.id:
        raise PermissionDenied("Only the client's administrators can manage its users.")
