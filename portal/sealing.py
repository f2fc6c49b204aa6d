"""Secrets Seatmeter must read back later, encrypted at rest with a key derived from SECRET_KEY.

Each purpose has its own derived key, so a value sealed for one use never opens as another:
- a seat's generated SIP password, kept only until the client admin has seen it once (the
  platform stores what it needs itself; a lost password is replaced, never recovered);
- a user's two-factor (TOTP) secret, which the server must read at every login;
- the QuickBooks Online access and refresh tokens, which the sync sends with every call;
- a new API token, carried in the session from its creation to the page that shows it once.
"""

from __future__ import annotations

import base64
import enum
import hashlib

from cryptography.fernet import Fernet, InvalidToken
from flask import current_app


class Purpose(enum.Enum):
    SEAT_SECRET = b"seatmeter/seat-secret/v1"
    TWO_FACTOR = b"seatmeter/two-factor/v1"
    QUICKBOOKS_TOKEN = b"seatmeter/quickbooks-token/v1"
    # A new API token between its creation (a POST) and the one page that shows it (the GET after the
    # redirect): it waits in the session cookie, sealed, and is taken out as it is shown.
    NEW_API_TOKEN = b"seatmeter/new-api-token/v1"


def _fernet(purpose: Purpose) -> Fernet:
    digest = hashlib.sha256(purpose.value + b"\0" + current_app.config["SECRET_KEY"].encode()).digest()
    return Fernet(base64.urlsafe_b64encode(digest))


def seal(secret: str, purpose: Purpose = Purpose.SEAT_SECRET) -> str:
    return _fernet(purpose).encrypt(secret.encode()).decode()


def unseal(token: str, purpose: Purpose = Purpose.SEAT_SECRET) -> str | None:
    """The secret, or None if it was sealed under another SECRET_KEY (or for another purpose)."""
    try:
        return _fernet(purpose).decrypt(token.encode()).decode()
    except InvalidToken:
        return None
