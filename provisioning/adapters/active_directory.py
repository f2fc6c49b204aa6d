"""Hosted desktops on the colo's Remote Desktop Services farm: users in Active Directory, over LDAPS.

Each client has an OU under ``AD_CLIENTS_OU`` (``OU=<client ref>``) holding its users and its RDS
users group (``AD_RDS_GROUP``, default ``<client ref>-rds-users``); the RDS farm lets in the members
of that group. A seat is one user, ``CN=<e-mail>`` in the client's OU, signing in with their e-mail as
user principal name; its ``description`` names the seat (``Seatmeter seat #12``), the way WorkSpaces
are tagged, so a repeated create finds the user it made and never adopts someone else's.

The account's id is the user's ``objectGUID`` (it survives renames and moves). New users get a random
password, shown once to the client's administrator; AD creates users disabled, so the password is
set first (only possible over TLS), then the account is enabled. Suspension sets the disabled bit of
``userAccountControl``, resumption clears it (other bits are kept). Removal takes the user out of the
group and deletes it when it is the seat's own; a user Seatmeter did not make (say, added to the
group by hand) only loses the membership.

Discovery (:meth:`list_accounts`, and :meth:`discover` for true-ups) reads the members of every
client's group, nested groups included (AD's in-chain matching rule), paged: membership is what
licenses a person for RDS. Naming rules (logon names, the seat mark) live in ``directory_names``.
"""

from __future__ import annotations

import contextlib
import ssl
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

import ldap3
from ldap3.core import exceptions as ldap_errors
from ldap3.utils.conv import escape_bytes, escape_filter_chars
from ldap3.utils.dn import escape_rdn, parse_dn

from provisioning.adapters.base import (
    Account,
    AccountState,
    AdapterError,
    Discovered,
    FoundAccount,
    NotConfigured,
    SeatRequest,
    account_evidence,
)
from provisioning.adapters.directory_names import (
    ACCOUNTDISABLE,
    DEFAULT_GROUP,
    NORMAL_ACCOUNT,
    PASSWD_NOTREQD,
    SEAT_MARK,
    new_password,
    sam_account_name,
    seat_mark,
    unique_sam,
)
from provisioning.adapters.ldap_session import PLATFORM, entries, first, guid, ldap_session, when_created

IN_CHAIN = "1.2.840.113556.1.4.1941"  # LDAP_MATCHING_RULE_IN_CHAIN: nested group membership
PAGE_SIZE = 500  # AD stops a plain search at 1000 entries
_USER_ATTRIBUTES = [
    "objectGUID",
    "sAMAccountName",
    "userPrincipalName",
    "mail",
    "displayName",
    "description",
    "userAccountControl",
    "whenCreated",
]


@dataclass(frozen=True)
class Membership:
    """One member of a client's RDS group, as discovery reports it."""

    client_ref: str
    group_dn: str
    user_dn: str
    account: Account
    created_at: datetime | None


class ActiveDirectoryAdapter:
    name = "active_directory"

    def __init__(
        self,
        url: str,
        bind_dn: str,
        bind_password: str,
        clients_ou: str,
        *,
        ca_file: str | None = None,
        tls_server_name: str | None = None,
        group_name: str = DEFAULT_GROUP,
    ) -> None:
        parts = urlsplit(url)
        if parts.scheme != "ldaps" or not parts.hostname:
            raise NotConfigured("AD_LDAP_URL must be an ldaps:// URL: passwords are only set over TLS.")
        tls = ldap3.Tls(
            validate=ssl.CERT_REQUIRED,
            ca_certs_file=ca_file,
            valid_names=[tls_server_name] if tls_server_name else None,
        )
        # get_info=NONE: no schema read at each bind (values come back raw; we decode them).
        self.server = ldap3.Server(
            parts.hostname,
            port=parts.port or 636,
            use_ssl=True,
            tls=tls,
            get_info=ldap3.NONE,
            connect_timeout=5,
        )
        self.bind_dn = bind_dn
        self.bind_password = bind_password
        self.clients_ou = clients_ou
        self.domain_dn = ",".join(
            f"DC={value}" for attr, value, _ in parse_dn(clients_ou) if attr.upper() == "DC"
        )
        self.group_name = group_name

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> ActiveDirectoryAdapter:
        missing = [
            name
            for name in ("AD_LDAP_URL", "AD_BIND_DN", "AD_BIND_PASSWORD", "AD_CLIENTS_OU")
            if not config.get(name)
        ]
        if missing:
            raise NotConfigured(
                "Hosted desktops on Active Directory are not configured on this installation yet: "
                f"the reseller has to set {', '.join(missing)}."
            )
        return cls(
            config["AD_LDAP_URL"],
            config["AD_BIND_DN"],
            config["AD_BIND_PASSWORD"],
            config["AD_CLIENTS_OU"],
            ca_file=config.get("AD_TLS_CA_FILE"),
            tls_server_name=config.get("AD_TLS_SERVER_NAME"),
            group_name=config.get("AD_RDS_GROUP") or DEFAULT_GROUP,
        )

    # -- naming ------------------------------------------------------------------------------------
    def client_ou(self, client_ref: str) -> str:
        return f"OU={escape_rdn(client_ref)},{self.clients_ou}"

    def group_dn(self, client_ref: str) -> str:
        return f"CN={escape_rdn(self.group_name.format(ref=client_ref))},{self.client_ou(client_ref)}"

    def user_dn(self, client_ref: str, email: str) -> str:
        return f"CN={escape_rdn(email.strip().lower())},{self.client_ou(client_ref)}"

    # -- the Adapter protocol ------------------------------------------------------------------------
    def create(self, request: SeatRequest) -> Account:
        if request.user is None:
            raise AdapterError("A desktop needs a person to be created for.", retryable=False)
        email = request.user.email.strip().lower()
        with self._session("create") as conn:
            self._ensure_client(conn, request.client_ref)
            entry = self._by_upn(conn, request.client_ref, email)
            secret = None
            if entry is None:
                entry = self._add_user(conn, request, email)
            elif self._seat_of(entry) != request.seat_id:
                raise AdapterError(
                    f"{email} already has a directory account that does not belong to this seat "
                    f"({entry['dn']}).",
                    retryable=False,
                    code="UserExists",
                )
            if request.external_id is None:
                # The seat never recorded this account, so nobody has seen a password for it: a
                # fresh one is set (and shown once). Set before enabling, as AD requires.
                secret = new_password()
                conn.extend.microsoft.modify_password(entry["dn"], secret)
            self._set_flags(conn, entry, clear=ACCOUNTDISABLE | PASSWD_NOTREQD)
            self._add_member(conn, request.client_ref, entry["dn"])
            entry = self._read(conn, entry["dn"])
        return self._account(entry, request.seat_id, secret)

    def assign(self, request: SeatRequest) -> Account:
        """Give the seat to request.user: the old person's account goes, the new person's is made."""
        self.terminate(request)
        return self.create(request)

    def unassign(self, request: SeatRequest) -> Account | None:
        self.terminate(request)
        return None

    def suspend(self, request: SeatRequest) -> Account:
        with self._session("suspend") as conn:
            entry = self._require(conn, request)
            self._set_flags(conn, entry, set_=ACCOUNTDISABLE)
            return self._account(self._read(conn, entry["dn"]), request.seat_id)

    def resume(self, request: SeatRequest) -> Account:
        with self._session("resume") as conn:
            entry = self._require(conn, request)
            self._set_flags(conn, entry, clear=ACCOUNTDISABLE)
            return self._account(self._read(conn, entry["dn"]), request.seat_id)

    def terminate(self, request: SeatRequest) -> None:
        with self._session("remove") as conn:
            entry = self._mine(conn, request)
            if entry is None:
                return
            group = self.group_dn(request.client_ref)
            with contextlib.suppress(
                ldap_errors.LDAPNoSuchObjectResult,
                ldap_errors.LDAPUnwillingToPerformResult,
                ldap_errors.LDAPNoSuchAttributeResult,
            ):
                # Not a member (any more), or no group: nothing to take away.
                conn.modify(group, {"member": [(ldap3.MODIFY_DELETE, [entry["dn"]])]})
            if self._seat_of(entry) == request.seat_id:
                with contextlib.suppress(ldap_errors.LDAPNoSuchObjectResult):
                    conn.delete(entry["dn"])

    def describe(self, request: SeatRequest) -> Account | None:
        with self._session("describe") as conn:
            entry = self._mine(conn, request)
            return self._account(entry, request.seat_id) if entry else None

    def list_accounts(self) -> list[Account]:
        return [membership.account for membership in self.list_memberships()]

    def list_memberships(self) -> list[Membership]:
        """Every member of every client's RDS group (nested groups expanded), client by client."""
        found: list[Membership] = []
        with self._session("list group members") as conn:
            ous = self._paged(conn, "(objectClass=organizationalUnit)", self.clients_ou, ldap3.LEVEL, ["ou"])
            refs = sorted(str(first(entry["attributes"], "ou")) for entry in ous)
            for ref in refs:
                group = self.group_dn(ref)
                rule = f"(memberOf:{IN_CHAIN}:={escape_filter_chars(group)})"
                for entry in self._paged(conn, f"(&(objectClass=user)(!(objectClass=computer)){rule})"):
                    found.append(
                        Membership(
                            client_ref=ref,
                            group_dn=group,
                            user_dn=entry["dn"],
                            account=self._account(entry, self._seat_of(entry)),
                            created_at=when_created(entry),
                        )
                    )
        return found

    # -- true-ups ------------------------------------------------------------------------------------
    def discover(self) -> list[Discovered]:
        """Every member of a client's RDS group: the OU and group name the client, the UPN the person.

        One user in two clients' groups is one account, listed under the first group; its evidence
        names every other group (``also_in``) so the reseller sees it.
        """
        first_seen: dict[str, Membership] = {}
        also_in: dict[str, list[str]] = {}
        for membership in self.list_memberships():
            external_id = membership.account.external_id
            if external_id in first_seen:
                also_in.setdefault(external_id, []).append(membership.group_dn)
            else:
                first_seen[external_id] = membership
        found = []
        for external_id, membership in first_seen.items():
            account = membership.account
            evidence = {
                **account_evidence(account),
                "dn": membership.user_dn,
                "group": membership.group_dn,
                "when_created": membership.created_at.isoformat() if membership.created_at else None,
            }
            if external_id in also_in:
                evidence["also_in"] = also_in[external_id]
            upn = account.user
            found.append(
                Discovered(
                    account,
                    evidence,
                    client_ref=membership.client_ref,
                    named_by="the client's OU and RDS group",
                    person=upn.lower() if upn and "@" in upn else None,
                    account_key=upn,
                )
            )
        return found

    def account_name(self, email: str) -> str | None:
        return email.strip().lower()  # the user principal name is the e-mail

    def extension_of(self, found: FoundAccount) -> str | None:
        return None

    def removal_problem(self, found: FoundAccount) -> str | None:
        return None  # terminate deletes only the users it made; a stranger just leaves the group

    # -- reading -------------------------------------------------------------------------------------
    def _mine(self, conn: ldap3.Connection, request: SeatRequest) -> dict[str, Any] | None:
        """The seat's user: by its GUID when recorded, else by e-mail in the client's OU and mark."""
        if request.external_id:
            entry = self._by_guid(conn, request.external_id)
            if entry is not None:
                return entry
        email = request.account_user or (request.user.email if request.user else None)
        if email:
            entry = self._by_upn(conn, request.client_ref, email.strip().lower())
            if entry is not None and self._seat_of(entry) == request.seat_id:
                return entry
        return None

    def _require(self, conn: ldap3.Connection, request: SeatRequest) -> dict[str, Any]:
        entry = self._mine(conn, request)
        if entry is None:
            raise AdapterError(
                "This seat's directory account no longer exists.", retryable=False, code="NotFound"
            )
        return entry

    def _by_guid(self, conn: ldap3.Connection, external_id: str) -> dict[str, Any] | None:
        try:
            raw = uuid.UUID(external_id).bytes_le
        except ValueError:
            return None
        return self._one(conn, self.domain_dn, f"(objectGUID={escape_bytes(raw)})")

    def _by_upn(self, conn: ldap3.Connection, client_ref: str, email: str) -> dict[str, Any] | None:
        try:
            return self._one(
                conn,
                self.client_ou(client_ref),
                f"(&(objectClass=user)(userPrincipalName={escape_filter_chars(email)}))",
            )
        except AdapterError as error:
            if error.code == "noSuchObject":  # the client has no OU yet
                return None
            raise

    def _one(self, conn: ldap3.Connection, base: str, search_filter: str) -> dict[str, Any] | None:
        try:
            conn.search(base, search_filter, ldap3.SUBTREE, attributes=_USER_ATTRIBUTES)
        except ldap_errors.LDAPNoSuchObjectResult:
            raise AdapterError(f"{base} does not exist.", retryable=False, code="noSuchObject") from None
        found = entries(conn.response)
        return found[0] if found else None

    def _read(self, conn: ldap3.Connection, dn: str) -> dict[str, Any]:
        conn.search(dn, "(objectClass=*)", ldap3.BASE, attributes=_USER_ATTRIBUTES)
        return entries(conn.response)[0]

    def _paged(
        self,
        conn: ldap3.Connection,
        search_filter: str,
        base: str | None = None,
        scope: str = ldap3.SUBTREE,
        attributes: list[str] | None = None,
    ) -> list[dict[str, Any]]:
        """Every entry, page by page (AD stops a plain search at 1000); the whole domain by default."""
        return entries(
            conn.extend.standard.paged_search(
                base or self.domain_dn,
                search_filter,
                scope,
                attributes=attributes or _USER_ATTRIBUTES,
                paged_size=PAGE_SIZE,
                generator=False,
            )
        )

    @staticmethod
    def _seat_of(entry: dict[str, Any]) -> int | None:
        match = SEAT_MARK.search(str(first(entry["attributes"], "description") or ""))
        return int(match.group(1)) if match else None

    # -- writing -------------------------------------------------------------------------------------
    def _ensure_client(self, conn: ldap3.Connection, client_ref: str) -> None:
        """The client's OU and RDS group, made on its first desktop."""
        with contextlib.suppress(ldap_errors.LDAPEntryAlreadyExistsResult):
            conn.add(self.client_ou(client_ref), "organizationalUnit")
        group = self.group_name.format(ref=client_ref)
        with contextlib.suppress(ldap_errors.LDAPEntryAlreadyExistsResult):
            # No groupType: AD makes a global security group, which is what RDS authorizes.
            conn.add(self.group_dn(client_ref), "group", {"sAMAccountName": group[:256]})

    def _add_user(self, conn: ldap3.Connection, request: SeatRequest, email: str) -> dict[str, Any]:
        assert request.user is not None
        sam = sam_account_name(email)
        if self._one(conn, self.domain_dn, f"(sAMAccountName={escape_filter_chars(sam)})") is not None:
            sam = unique_sam(email)  # the logon name is taken elsewhere in the domain
        dn = self.user_dn(request.client_ref, email)
        attributes = {
            "sAMAccountName": sam,
            "userPrincipalName": email,
            "mail": email,
            "displayName": request.user.display_name or email,
            "description": seat_mark(request.seat_id, request.client_ref),
        }
        with contextlib.suppress(ldap_errors.LDAPEntryAlreadyExistsResult):
            conn.add(dn, ["top", "person", "organizationalPerson", "user"], attributes)
        return self._read(conn, dn)

    def _add_member(self, conn: ldap3.Connection, client_ref: str, user_dn: str) -> None:
        with contextlib.suppress(
            ldap_errors.LDAPEntryAlreadyExistsResult, ldap_errors.LDAPAttributeOrValueExistsResult
        ):
            conn.modify(self.group_dn(client_ref), {"member": [(ldap3.MODIFY_ADD, [user_dn])]})

    def _set_flags(
        self, conn: ldap3.Connection, entry: dict[str, Any], *, set_: int = 0, clear: int = 0
    ) -> None:
        """Change bits of userAccountControl and keep the others (never write a constant)."""
        current = int(
            first(self._read(conn, entry["dn"])["attributes"], "userAccountControl") or NORMAL_ACCOUNT
        )
        wanted = (current | set_) & ~clear
        if wanted != current:
            conn.modify(entry["dn"], {"userAccountControl": [(ldap3.MODIFY_REPLACE, [str(wanted)])]})

    def _session(self, operation: str) -> contextlib.AbstractContextManager[ldap3.Connection]:
        return ldap_session(self.server, self.bind_dn, self.bind_password, f"{PLATFORM} {operation}")

    @staticmethod
    def _account(entry: dict[str, Any], seat_id: int | None, secret: str | None = None) -> Account:
        attributes = entry["attributes"]
        flags = int(first(attributes, "userAccountControl") or NORMAL_ACCOUNT)
        upn = first(attributes, "userPrincipalName") or first(attributes, "mail")
        return Account(
            external_id=guid(entry),
            state=AccountState.DISABLED if flags & ACCOUNTDISABLE else AccountState.ENABLED,
            user=str(upn).lower() if upn else None,
            name=str(first(attributes, "sAMAccountName") or ""),
            seat_id=seat_id,
            secret=secret,
        )
