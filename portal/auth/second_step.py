"""The half-way state of a two-step login, kept in the signed session cookie.

Between a right password and a right code the user is not logged in: the session only says who
typed the password, for which session version, and until when the code may come.
"""

from __future__ import annotations

import time

from flask import session

from portal.accounts.models import User
from portal.db import db

_KEY = "second_step"
SECOND_STEP_SECONDS = 300


def start_second_step(user: User, *, remember: bool, next_url: str | None) -> None:
    session[_KEY] = {
        "user": user.id,
        "version": user.session_version,
        "remember": remember,
        "next": next_url,
        "until": time.time() + SECOND_STEP_SECONDS,
    }


def waiting_user() -> tuple[User, bool, str | None] | None:
    """The user half-way in, whether they asked to be remembered, and where they were going."""
    pending = session.get(_KEY)
    if not isinstance(pending, dict) or pending.get("until", 0) < time.time():
        return None
    user = db.session.get(User, pending.get("user"))
    # A password changed or a logout elsewhere since the password was typed ends the attempt.
    if user is None or not user.is_active or user.session_version != pending.get("version"):
        return None
    return user, bool(pending.get("remember")), pending.get("next")


def end_second_step() -> None:
    session.pop(_KEY, None)
