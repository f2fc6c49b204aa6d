"""Changing accounts: clients, portal users, invitations, password resets, end users, API tokens.

Services flush and never commit; the request, task or command that called them commits.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from datetime import timedelta
from functools import cache
from pathlib import Path

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import delete, func, select, update

from portal.accounts.models import (
    ApiToken,
    Client,
    FailedLogin,
    OneTimeToken,
    Reseller,
    Role,
    TokenPurpose,
    User,
)
from portal.audit.services import Actor, record
from portal.db import db, utcnow
from portal.errors import Conflict, InvalidInput, NotFound, ServiceError
from portal.notifications.services import (
    public_link,
    send_email_after_commit,
    talk_to_mail_server_after_commit,
)

_hasher = PasswordHasher()
# Verified against when the e-mail is unknown, so a login takes as long whether or not the
# account exists.
_DUMMY_HASH = _hasher.hash("not-a-real-password")

CLIENT_REF_PATTERN = re.compile(r"^[a-z0-9][a-z0-9-]{1,30}[a-z0-9]$")
MIN_PASSWORD_LENGTH = 12
INVITATION_LIFETIME = timedelta(days=7)
PASSWORD_RESET_LIFETIME = timedelta(hours=1)
UNLOCK_LIFETIME = timedelta(hours=1)
MAX_FAILED_LOGINS = 5
FAILED_LOGIN_WINDOW = timedelta(minutes=15)


def normalize_email(email: str) -> str:
    return email.strip().lower()


def digest_token(raw_token: str) -> str:
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


# Runs of neighbouring keys (US layout): rows, and the columns walked left to right. A password
# made only of pieces of these ("qwertyuiop", "1qaz2wsx", "zxcvbnm,./asdf") is among the first
# things a guesser tries, however long it is.
_KEYBOARD_WALKS = (
    "`1234567890-=",
    "qwertyuiop[]\\",
    "asdfghjkl;'",
    "zxcvbnm,./",
    "1qaz2wsx3edc4rfv5tgb6yhn7ujm8ik,9ol.0p;/-['=]",
)
_MIN_WALK_PIECE = 3


@cache
def _common_passwords() -> frozenset[str]:
    """The packaged list of the most common passwords (lowercase), read once."""
    text = (Path(__file__).parent / "common_passwords.txt").read_text(encoding="utf-8")
    return frozenset(line for line in text.splitlines() if line and not line.startswith("#"))


def _is_common(lowered: str) -> bool:
    # Digits and symbols around a common word ("Password1234!", "sunshine2024") do not make it
    # any less common: lists of breached passwords are full of exactly those.
    core = re.sub(r"^[\W\d_]+|[\W\d_]+$", "", lowered)
    return lowered in _common_passwords() or (core != "" and core in _common_passwords())


def _is_keyboard_walk(lowered: str) -> bool:
    walks = [*_KEYBOARD_WALKS, *(walk[::-1] for walk in _KEYBOARD_WALKS)]
    position = 0
    while position < len(lowered):
        longest = 0
        for walk in walks:
            length = len(lowered) - position
            while length > longest and lowered[position : position + length] not in walk:
                length -= 1
            longest = max(longest, length)
        if longest < _MIN_WALK_PIECE:
            return False
        position += longest
    return True


def password_problems(password: str, email: str | None = None) -> list[str]:
    problems = []
    lowered = password.lower()
    if len(password) < MIN_PASSWORD_LENGTH:
        problems.append(f"Use at least {MIN_PASSWORD_LENGTH} characters.")
    if len(set(password)) < 4:
        problems.append("Use more different characters.")
    if email and password.strip().lower() == normalize_email(email):
        problems.append("Do not use your e-mail address as your password.")
    if password.isdigit():
        problems.append("Use letters too, not only digits.")
    elif _is_common(lowered):
        problems.append("This is one of the most common passwords; choose one that is harder to guess.")
    elif _is_keyboard_walk(lowered):
        problems.append("Do not use a row of keys such as qwertyuiop.")
    elif re.fullmatch(r"(.+?)\1+", lowered):
        problems.append("Do not repeat the same few characters.")
    return problems


def _set_password(user: User, password: str) -> None:
    problems = password_problems(password, user.email)
    if problems:
        raise InvalidInput(" ".join(problems), fields={"password": " ".join(problems)})
    user.password_hash = _hasher.hash(password)
    user.session_version += 1


def authenticate(email: str, password: str) -> User | None:
    """The active user with this e-mail and password, or None (without saying which was wrong).

    The caller finishes with complete_login once every factor has passed.

    After MAX_FAILED_LOGINS wrong passwords for an address within FAILED_LOGIN_WINDOW, that address
    cannot log in until the window has passed (LoginThrottled), whatever the password: guessing
    passwords online stops being practical, and the password-reset link still works.
    """
    email = normalize_email(email)
    _check_not_throttled(email)
    user = db.session.scalars(select(User).where(User.email == email)).first()
    stored_hash = user.password_hash if user is not None and user.password_hash else _DUMMY_HASH
    try:
        _hasher.verify(stored_hash, password)
    except (VerificationError, InvalidHashError):
        _record_failed_login(email, user)
        return None
    if user is None or not user.is_active:
        _record_failed_login(email, user)
        return None
    db.session.execute(delete(FailedLogin).where(FailedLogin.email == email))
    if _hasher.check_needs_rehash(stored_hash):
        user.password_hash = _hasher.hash(password)
    db.session.flush()
    return user


def verify_password(user: User, password: str) -> bool:
    """Whether ``password`` is ``user``'s (to confirm a sensitive change by someone logged in)."""
    if not user.password_hash:
        return False
    try:
        return _hasher.verify(user.password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def complete_login(user: User) -> None:
    """Record that ``user`` is in: the password and, when they have one, the second factor passed."""
    user.last_login_at = utcnow()
    db.session.flush()
    record(Actor.for_user(user), "user.logged_in", "user", user.id, client_id=user.client_id)


def record_failed_login(email: str, user: User | None) -> None:
    """Count a failed sign-in step towards the address's throttle (a wrong second factor too)."""
    _record_failed_login(normalize_email(email), user)


def check_not_throttled(email: str) -> None:
    """Raise LoginThrottled while the address is locked (see authenticate)."""
    _check_not_throttled(normalize_email(email))


class LoginThrottled(ServiceError):
    code = "throttled"
    http_status = 429


def _check_not_throttled(email: str) -> None:
    since = utcnow() - FAILED_LOGIN_WINDOW
    failures = list(
        db.session.scalars(
            select(FailedLogin.at)
            .where(FailedLogin.email == email, FailedLogin.at > since)
            .order_by(FailedLogin.at.desc())
            .limit(MAX_FAILED_LOGINS)
        )
    )
    if len(failures) >= MAX_FAILED_LOGINS:
        free_at = failures[-1] + FAILED_LOGIN_WINDOW
        minutes = max(1, -(-int((free_at - utcnow()).total_seconds()) // 60))
        raise LoginThrottled(
            f"Too many wrong passwords for this address. Try again in {minutes} minutes, "
            "or unlock it now with a link we e-mail to the address."
        )


def _record_failed_login(email: str, user: User | None) -> None:
    # Old failures are dropped as new ones come in, so the table holds one window at most.
    db.session.execute(
        delete(FailedLogin).where(
            FailedLogin.email == email, FailedLogin.at <= utcnow() - FAILED_LOGIN_WINDOW
        )
    )
    db.session.add(FailedLogin(email=email[:254]))
    db.session.flush()
    # The address typed is kept (it says who was tried), the password never is. An unknown
    # address is recorded too: guessing at addresses is what the reseller wants to see.
    who = Actor.system("sign-in")
    user_id, client_id = (user.id, user.client_id) if user is not None else (None, None)
    details: dict[str, object] = {"email": email[:254]}
    record(who, "user.login_failed", "user", user_id, client_id=client_id, details=details)
    failures = db.session.scalar(
        select(func.count())
        .select_from(FailedLogin)
        .where(FailedLogin.email == email, FailedLogin.at > utcnow() - FAILED_LOGIN_WINDOW)
    )
    if failures == MAX_FAILED_LOGINS:
        # Recorded at the failure that locks, which commits; a refused attempt while locked
        # rolls back with its LoginThrottled.
        minutes = int(FAILED_LOGIN_WINDOW.total_seconds() // 60)
        details = {**details, "minutes": minutes}
        record(who, "user.locked_out", "user", user_id, client_id=client_id, details=details)


def is_locked(email: str) -> bool:
    """Whether ``email`` has had MAX_FAILED_LOGINS wrong passwords within FAILED_LOGIN_WINDOW."""
    failures = db.session.scalar(
        select(func.count())
        .select_from(FailedLogin)
        .where(FailedLogin.email == normalize_email(email), FailedLogin.at > utcnow() - FAILED_LOGIN_WINDOW)
    )
    return (failures or 0) >= MAX_FAILED_LOGINS


def request_unlock(email: str) -> None:
    """E-mail an unlock link to a locked account; say nothing either way (as for a reset).

    Anyone can lock an address by typing wrong passwords for it; the owner reads their own
    mailbox, so a link sent there lets them back in at once instead of waiting out the window.
    """
    email = normalize_email(email)
    user = db.session.scalars(select(User).where(User.email == email)).first()
    if user is None or not user.active or user.password_hash is None or not is_locked(email):
        # The same work as for a send, so the answer's timing tells nothing (as for resets).
        talk_to_mail_server_after_commit()
        record(
            Actor.system("unlock"),
            "user.unlock_requested",
            "user",
            details={"email": email[:254], "sent": False},
        )
        return
    raw = _issue_one_time_token(user, TokenPurpose.UNLOCK, UNLOCK_LIFETIME)
    send_email_after_commit(
        user.email,
        "Unlock your Seatmeter sign-in",
        f"Hello {user.name},\n\nSomeone typed wrong passwords for your address, so signing in with it "
        "was locked for a while.\nIf it was you, unlock it here (the link works once, for 1 hour) "
        f"and log in as usual:\n\n{public_link('auth.unlock', token=raw)}\n\n"
        "If it was not you, your password is still safe; you may want to change it anyway.\n",
    )
    record(Actor.system("unlock"), "user.unlock_requested", "user", user.id, client_id=user.client_id)


def unlock_with_token(raw_token: str) -> User:
    """Use an unlock link: the address's wrong-password count starts again from zero."""
    token = find_one_time_token(raw_token, TokenPurpose.UNLOCK)
    user = token.user
    token.used_at = utcnow()
    db.session.execute(delete(FailedLogin).where(FailedLogin.email == user.email))
    db.session.flush()
    record(Actor.for_user(user), "user.unlocked", "user", user.id, client_id=user.client_id)
    return user


def end_sessions(user: User) -> None:
    """Log ``user`` out everywhere: every session and remember-me cookie carries the old version.

    Cookies live in the browser, so deleting them at logout is not enough: a copy saved earlier
    would still open the portal. Bumping the version makes every copy stale on the server side.
    """
    user.session_version += 1
    db.session.flush()
    record(Actor.for_user(user), "user.logged_out", "user", user.id, client_id=user.client_id)


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
    if "\x00" in ref:
        # No reference has one, and PostgreSQL cannot even compare text that does (a 500 before).
        raise NotFound("No client with this reference.")
    client = db.session.scalars(select(Client).where(Client.ref == ref.strip().lower())).first()
    if client is None:
        raise NotFound(f"No client with the reference “{ref}”.")
    return client


def _ensure_email_free(email: str) -> None:
    if db.session.scalars(select(User.id).where(User.email == email)).first() is not None:
        raise Conflict("A user with this e-mail address already exists.", fields={"email": "Already in use."})


def _check_role_matches_client(role: Role, client: Client | None) -> None:
    if role.is_reseller != (client is None):
        raise InvalidInput("Client roles need a client; reseller roles must not have one.")


def _new_user(email: str, name: str, role: Role, client: Client | None) -> User:
    email = normalize_email(email)
    _check_role_matches_client(role, client)
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


def invite_user(actor: Actor, email: str, name: str, role: Role, client: Client | None) -> User | None:
    """Create a user without a password and e-mail them a link to choose one.

    An address already used in another tenant (another client, or the reseller) is not revealed to
    a client's administrator: the answer is the same as for a new address, nothing is created or
    moved, and that address gets an e-mail saying why no invitation came (None is returned). An
    address of the inviter's own tenant, or any address when the reseller or the command line
    invites (they see every user anyway), is a Conflict as before.
    """
    email = normalize_email(email)
    _check_role_matches_client(role, client)
    existing = db.session.scalars(select(User).where(User.email == email)).first()
    if existing is not None and not _may_know_of(actor, existing, client):
        _tell_about_invitation_to_taken_address(actor, existing, client)
        return None
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


def _may_know_of(actor: Actor, existing: User, client: Client | None) -> bool:
    """Whether the inviter may learn that ``existing`` has an account: same tenant, or the reseller."""
    if existing.client_id == (client.id if client else None):
        return True
    if actor.user_id is not None:
        inviter = db.session.get(User, actor.user_id)
        return inviter is not None and inviter.role.is_reseller
    if actor.token_id is not None:
        token = db.session.get(ApiToken, actor.token_id)
        return token is not None and token.role.is_reseller
    return True  # the command line and the system act for the reseller


def _tell_about_invitation_to_taken_address(actor: Actor, existing: User, client: Client | None) -> None:
    # The person who owns the address is told, rather than left waiting for an invitation that
    # never comes: they can ask the inviter to use another address. The mail goes to the address
    # only, so the inviter learns nothing they could not learn from any new address.
    where = client.name if client else "the reseller console"
    send_email_after_commit(
        existing.email,
        f"An invitation to {where} on Seatmeter",
        f"Hello {existing.name},\n\n{actor.label} tried to invite this address to {where} on Seatmeter.\n"
        "This address already has a Seatmeter account, and an address can belong to one organisation "
        "only, so nothing was changed: your account stays as it is.\n\n"
        f"If you want to join {where}, ask them to invite another address of yours. "
        "If you did not expect this, you can ignore this e-mail.\n",
    )
    # For the reseller's audit log only (no client): the client's activity must not tell it apart.
    record(
        actor,
        "user.invitation_to_taken_address",
        "user",
        existing.id,
        details={"email": existing.email, "inviting_client": client.ref if client else None},
    )


def _void_unused_tokens(user: User, purpose: TokenPurpose | None = None) -> None:
    """Expire ``user``'s links not yet used (of ``purpose``, or all): only the newest one works.

    An older e-mail may sit in a mailbox someone else reads; once a newer link is sent, or a
    password is chosen with any of them, the others must not set the password again. They are
    expired rather than deleted, so the rows still tell when each link was sent.
    """
    now = utcnow()
    query = (
        update(OneTimeToken)
        .where(
            OneTimeToken.user_id == user.id,
            OneTimeToken.used_at.is_(None),
            OneTimeToken.expires_at > now,
        )
        .values(expires_at=now)
    )
    if purpose is not None:
        query = query.where(OneTimeToken.purpose == purpose)
    db.session.execute(query)


def _issue_one_time_token(user: User, purpose: TokenPurpose, lifetime: timedelta) -> str:
    _void_unused_tokens(user, purpose)
    raw = secrets.token_urlsafe(32)
    db.session.add(
        OneTimeToken(user=user, purpose=purpose, token_hash=digest_token(raw), expires_at=utcnow() + lifetime)
    )
    db.session.flush()
    return raw


def new_invitation_link(user: User) -> str:
    """A fresh invitation link for ``user``; any older one stops working."""
    raw = _issue_one_time_token(user, TokenPurpose.INVITATION, INVITATION_LIFETIME)
    return public_link("auth.accept_invitation", token=raw)


def find_one_time_token(raw: str, purpose: TokenPurpose) -> OneTimeToken:
    token = db.session.scalars(
        select(OneTimeToken).where(
            OneTimeToken.token_hash == digest_token(raw), OneTimeToken.purpose == purpose
        )
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
    _void_unused_tokens(user)
    record(Actor.for_user(user), action, "user", user.id, client_id=user.client_id)
    return user


def accept_invitation(raw_token: str, password: str) -> User:
    return _choose_password_with_token(
        raw_token, TokenPurpose.INVITATION, password, "user.invitation_accepted"
    )


def request_password_reset(email: str) -> None:
    """E-mail a reset link if the account exists; say nothing either way (no account probing)."""
    email = normalize_email(email)
    user = db.session.scalars(select(User).where(User.email == email)).first()
    if user is None or not user.active or user.password_hash is None:
        # The same work as for an account, less the link: an audit row, and after the commit the
        # mail server is reached as for a send. The answer then takes as long whether or not the
        # address has an account, so timing it tells nothing (issue 17, finding 9).
        talk_to_mail_server_after_commit()
        record(
            Actor.system("password reset"),
            "user.password_reset_requested",
            "user",
            details={"email": email[:254], "account": False},
        )
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
