"""Two-step login: a TOTP authenticator app (RFC 6238) and single-use recovery codes.

A reseller's users hold the keys to every client; a stolen password alone must not open the console.
Which roles must use a second factor is the setting TWO_FACTOR_REQUIRED_ROLES (by default the
reseller's own roles); everyone else may turn it on for themselves.
"""

from __future__ import annotations

import hashlib
import re
import secrets
import time
from datetime import UTC, datetime

import pyotp
from flask import current_app
from sqlalchemy import delete, select

from portal.accounts.models import RecoveryCode, TwoFactor, User
from portal.accounts.services import check_not_throttled, record_failed_login, verify_password
from portal.audit.services import Actor, record
from portal.db import db, utcnow
from portal.errors import Conflict, InvalidInput
from portal.sealing import Purpose, seal, unseal

RECOVERY_CODES = 10
ISSUER = "Seatmeter"
_TOTP_CODE = re.compile(r"\d{6}")


def required_for(user: User) -> bool:
    roles: frozenset[str] = current_app.config["TWO_FACTOR_REQUIRED_ROLES"]
    return user.role.value in roles


def is_enabled(user: User) -> bool:
    found = db.session.get(TwoFactor, user.id)
    return found is not None and found.enabled_at is not None


def begin_setup(user: User) -> str:
    """A new secret for ``user``'s authenticator app, pending until a code from it is confirmed."""
    if is_enabled(user):
        raise Conflict("Two-step login is already on. Turn it off first to move it to another app.")
    secret = pyotp.random_base32()
    pending = db.session.get(TwoFactor, user.id)
    if pending is None:
        pending = TwoFactor(user_id=user.id, secret_sealed=seal(secret, Purpose.TWO_FACTOR))
        db.session.add(pending)
    else:
        pending.secret_sealed, pending.last_step = seal(secret, Purpose.TWO_FACTOR), None
    db.session.flush()
    return secret


def pending_secret(user: User) -> str | None:
    """The secret being set up (for the QR code and the text to type), if a set-up is under way."""
    pending = db.session.get(TwoFactor, user.id)
    if pending is None or pending.enabled_at is not None:
        return None
    return unseal(pending.secret_sealed, Purpose.TWO_FACTOR)


def setup_uri(user: User, secret: str) -> str:
    """The otpauth:// address an authenticator app reads from the QR code."""
    return pyotp.TOTP(secret).provisioning_uri(name=user.email, issuer_name=ISSUER)


def confirm_setup(user: User, code: str) -> list[str]:
    """Turn two-step login on once ``code`` proves the app works; the recovery codes, shown once."""
    pending = db.session.get(TwoFactor, user.id)
    secret = pending_secret(user)
    if pending is None or secret is None:
        raise InvalidInput("Start the set-up again: no set-up is under way.", fields={"code": "Start again."})
    step = _matching_step(secret, code, after=None)
    if step is None:
        raise InvalidInput(
            "That code does not match. Type the 6 digits your app shows now.",
            fields={"code": "The code does not match."},
        )
    pending.enabled_at, pending.last_step = utcnow(), step
    codes = _new_recovery_codes(user)
    record(Actor.for_user(user), "user.two_factor_enabled", "user", user.id, client_id=user.client_id)
    return codes


def new_recovery_codes(user: User, password: str) -> list[str]:
    """Replace the recovery codes (the old ones stop working); the password confirms it is them."""
    if not is_enabled(user):
        raise Conflict("Two-step login is off: there are no recovery codes to replace.")
    _check_password(user, password)
    codes = _new_recovery_codes(user)
    record(Actor.for_user(user), "user.recovery_codes_replaced", "user", user.id, client_id=user.client_id)
    return codes


def turn_off(user: User, password: str) -> None:
    """Remove the second factor, unless the user's role requires one."""
    if required_for(user):
        raise Conflict("Your role requires two-step login: it cannot be turned off.")
    _check_password(user, password)
    db.session.execute(delete(TwoFactor).where(TwoFactor.user_id == user.id))
    db.session.execute(delete(RecoveryCode).where(RecoveryCode.user_id == user.id))
    db.session.flush()
    record(Actor.for_user(user), "user.two_factor_disabled", "user", user.id, client_id=user.client_id)


def verify_second_factor(user: User, code: str) -> bool:
    """Whether ``code`` (from the app, or a recovery code) lets ``user`` in. Failures count towards
    the address's login throttle, so guessing codes stops as guessing passwords does."""
    check_not_throttled(user.email)
    found = db.session.get(TwoFactor, user.id)
    if found is None or found.enabled_at is None:
        return False
    secret = unseal(found.secret_sealed, Purpose.TWO_FACTOR)
    step = _matching_step(secret, code, after=found.last_step) if secret is not None else None
    if step is not None:
        found.last_step = step
        db.session.flush()
        return True
    if _use_recovery_code(user, code):
        return True
    record_failed_login(user.email, user)
    record(Actor.system("sign-in"), "user.two_factor_failed", "user", user.id, client_id=user.client_id)
    return False


def _matching_step(secret: str, code: str, after: int | None) -> int | None:
    """The time step whose code is ``code`` (now, or one step either side for clock drift), if any
    and if later than ``after``: a code already used is refused even within its 30 seconds."""
    code = re.sub(r"\s", "", code)
    if not _TOTP_CODE.fullmatch(code):
        return None
    totp = pyotp.TOTP(secret)
    now = int(time.time())
    for offset in (0, -1, 1):
        at = now + offset * totp.interval
        step = totp.timecode(datetime.fromtimestamp(at, UTC))
        if (after is None or step > after) and secrets.compare_digest(totp.at(at), code):
            return step
    return None


def _use_recovery_code(user: User, code: str) -> bool:
    digest = _digest(code)
    if digest is None:
        return False
    found = db.session.scalars(
        select(RecoveryCode).where(
            RecoveryCode.user_id == user.id, RecoveryCode.code_hash == digest, RecoveryCode.used_at.is_(None)
        )
    ).first()
    if found is None:
        return False
    found.used_at = utcnow()
    db.session.flush()
    left = len(
        db.session.scalars(
            select(RecoveryCode.id).where(RecoveryCode.user_id == user.id, RecoveryCode.used_at.is_(None))
        ).all()
    )
    record(
        Actor.for_user(user),
        "user.recovery_code_used",
        "user",
        user.id,
        client_id=user.client_id,
        details={"codes_left": left},
    )
    return True


def _new_recovery_codes(user: User) -> list[str]:
    db.session.execute(delete(RecoveryCode).where(RecoveryCode.user_id == user.id))
    codes = [f"{secrets.token_hex(3)}-{secrets.token_hex(3)}" for _ in range(RECOVERY_CODES)]
    for code in codes:
        db.session.add(RecoveryCode(user_id=user.id, code_hash=_digest(code)))
    db.session.flush()
    return codes


def _digest(code: str) -> str | None:
    # 48 random bits each, single use, tried against the login throttle: a fast hash is enough.
    normalized = re.sub(r"[\s-]", "", code).lower()
    if not re.fullmatch(r"[0-9a-f]{12}", normalized):
        return None
    return hashlib.sha256(normalized.encode()).hexdigest()


def _check_password(user: User, password: str) -> None:
    if not verify_password(user, password):
        raise InvalidInput("That is not your password.", fields={"password": "Wrong password."})  # nosec B105  # an error message, not a password
