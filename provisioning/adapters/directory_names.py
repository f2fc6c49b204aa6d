"""How Seatmeter names and marks what it makes in Active Directory: logon names, the seat mark in a
user's description, first passwords, and the userAccountControl bits it reads and changes.

Pure functions (no directory), kept apart from the adapter's LDAP conversation.
"""

from __future__ import annotations

import hashlib
import re
import secrets
import string

ACCOUNTDISABLE = 0x2
PASSWD_NOTREQD = 0x20
NORMAL_ACCOUNT = 0x200
SAM_MAX = 20  # what Windows logon names keep to
DEFAULT_GROUP = "{ref}-rds-users"
SEAT_MARK = re.compile(r"Seatmeter seat #(\d+)")


def sam_account_name(email: str) -> str:
    """The pre-Windows 2000 logon name: the e-mail's local part, as far as Windows allows it."""
    local = email.split("@", 1)[0].strip().lower()
    return re.sub(r"[^a-z0-9._-]", "-", local)[:SAM_MAX] or "user"


def unique_sam(email: str) -> str:
    # When the plain name is taken in the domain: a stable variant, the same on every retry.
    digest = hashlib.sha256(email.strip().lower().encode()).hexdigest()[:4]
    return f"{sam_account_name(email)[: SAM_MAX - 5]}-{digest}"


def new_password() -> str:
    """A random password that meets AD's complexity rule (three of four character classes)."""
    alphabet = string.ascii_letters + string.digits
    body = "".join(secrets.choice(alphabet) for _ in range(16))
    return f"{body}-{secrets.choice(string.ascii_uppercase)}{secrets.randbelow(10)}a"


def seat_mark(seat_id: int, client_ref: str) -> str:
    return f"Seatmeter seat #{seat_id} ({client_ref})"
