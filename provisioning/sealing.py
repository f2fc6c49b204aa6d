"""Keeping a generated secret (a SIP password) readable once, by the client admin, then gone.

The platform stores what it needs itself (Kamailio's subscriber row). Seatmeter keeps its own copy
only until the client admin has seen it: encrypted with a key derived from SECRET_KEY, and deleted
when shown. Nobody can see it twice; a lost password is replaced, never recovered.
"""

from __future__ import annotations

import base64
import hashlib

from cryptography.fernet import Fernet, InvalidToken
from flask import current_app


def _fernet() -> Fernet:
    digest = hashlib.sha256(
        b"seatmeter/seat-secret/v1\0" + current_app.config["SECRET_KEY"].encode()
    ).digest()
    return Fernet(base64.urlsafe_b64encode(digest))


def seal(secret: str) -> str:
    return _fernet().encrypt(secret.encode()).decode()


def unseal(token: str) -> str | None:
    """The secret, or None if it was sealed under another SECRET_KEY."""
    try:
        return _fernet().decrypt(token.encode()).decode()
    except InvalidToken:
        return None
