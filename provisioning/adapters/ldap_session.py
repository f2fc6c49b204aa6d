"""LDAP plumbing of the Active Directory adapter: one bound session per operation, LDAP's errors as
AdapterError (retryable or permanent), and reading ldap3's entries without a schema.

The connection is made for each operation and closed after it: adapters live for the life of a
worker process, and a long-lived LDAP connection would be dropped by the directory sooner or later.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Iterator, Mapping
from datetime import datetime
from typing import Any

import ldap3
from ldap3.core import exceptions as ldap_errors

from provisioning.adapters.base import AdapterError

PLATFORM = "Active Directory"
# Result codes worth trying again: busy, unavailable, time limit, admin limit.
_RETRYABLE_RESULTS = (
    ldap_errors.LDAPBusyResult,
    ldap_errors.LDAPUnavailableResult,
    ldap_errors.LDAPTimeLimitExceededResult,
    ldap_errors.LDAPAdminLimitExceededResult,
)


@contextlib.contextmanager
def ldap_session(server: ldap3.Server, bind_dn: str, password: str, what: str) -> Iterator[ldap3.Connection]:
    """A bound connection for one operation (``what`` names it in errors); closed afterwards."""
    conn = ldap3.Connection(
        server,
        user=bind_dn,
        password=password,
        raise_exceptions=True,
        receive_timeout=30,
        auto_range=True,  # follow AD's ranged reads of large member lists
    )
    try:
        conn.bind()
        yield conn
    except AdapterError:
        raise
    except ldap_errors.LDAPInvalidCredentialsResult:
        raise AdapterError(
            f"{what}: the directory refused Seatmeter's bind; check AD_BIND_DN and AD_BIND_PASSWORD.",
            retryable=False,
            code="invalidCredentials",
        ) from None
    except _RETRYABLE_RESULTS as error:
        raise AdapterError(f"{what}: {error}", retryable=True, code=type(error).__name__) from None
    except ldap_errors.LDAPOperationResult as error:
        raise AdapterError(
            f"{what}: {error.description}: {error.message}", retryable=False, code=str(error.description)
        ) from None
    except (ldap_errors.LDAPCommunicationError, ldap_errors.LDAPResponseTimeoutError) as error:
        text = str(error)
        # A certificate that does not verify will not verify next time either.
        retryable = "certificate" not in text.lower()
        raise AdapterError(
            f"{what}: could not talk to the directory ({text})", retryable=retryable, code="Connection"
        ) from None
    except ldap_errors.LDAPException as error:
        raise AdapterError(f"{what}: {error}", retryable=False, code=type(error).__name__) from None
    finally:
        with contextlib.suppress(ldap_errors.LDAPException, OSError):
            conn.unbind()


def entries(response: list[dict[str, Any]] | None) -> list[dict[str, Any]]:
    return [entry for entry in response or [] if entry.get("type") == "searchResEntry"]


def first(attributes: Mapping[str, Any], name: str) -> Any:
    """One value of an attribute: ldap3 without schema gives lists, or a bare value, or nothing."""
    value = attributes.get(name)
    if isinstance(value, list):
        return value[0] if value else None
    return value


def guid(entry: dict[str, Any]) -> str:
    raw = entry.get("raw_attributes", {}).get("objectGUID") or []
    return str(uuid.UUID(bytes_le=raw[0])) if raw else ""


def when_created(entry: dict[str, Any]) -> datetime | None:
    """whenCreated (GeneralizedTime, e.g. 20261125031500.0Z) as an aware datetime."""
    raw = entry.get("raw_attributes", {}).get("whenCreated") or []
    if not raw:
        return None
    text = raw[0].decode() if isinstance(raw[0], bytes) else str(raw[0])
    with contextlib.suppress(ValueError):
        return datetime.strptime(text.split(".")[0].rstrip("Z") + "+0000", "%Y%m%d%H%M%S%z")
    return None
