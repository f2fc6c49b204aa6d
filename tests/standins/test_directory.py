"""The Samba AD stand-in behaves like the Active Directory that authorizes colo RDS desktops.

Each test does over real LDAP (ldap3) what the product's adapter will do, or what a client's admin
may do behind the product's back, and reads the result back the way SPLA true-up discovery will.
"""

from __future__ import annotations

import ssl

import ldap3
import pytest
from ldap3.core.exceptions import (
    LDAPConstraintViolationResult,
    LDAPNoSuchObjectResult,
    LDAPSocketOpenError,
    LDAPStrongerAuthRequiredResult,
)

from tests.standins.directory import Directory, delete_children

pytestmark = pytest.mark.slow

ACCOUNTDISABLE = 0x2  # userAccountControl bits
PASSWD_NOTREQD = 0x20
NORMAL_ACCOUNT = 0x200
DONT_EXPIRE_PASSWORD = 0x10000
# Meets AD's default policy (7+ characters, 3 of 4 classes); the DC rejects weaker ones.
USER_PASSWORD = "Desk-top-42!"


# --- what the product's adapter will do, written plainly ------------------------------------------


def add_client(conn: ldap3.Connection, d: Directory, ref: str) -> tuple[str, str]:
    """The client's OU and its RDS users group; returns (ou_dn, group_dn)."""
    ou = f"OU={ref},{d.clients_dn}"
    group = f"CN={ref}-rds-users,{ou}"
    conn.add(ou, "organizationalUnit")
    # No groupType given: AD makes a global security group (-2147483646), what RDS needs.
    conn.add(group, "group", {"sAMAccountName": f"{ref}-rds-users"})
    return ou, group


def add_user(conn: ldap3.Connection, ou: str, login: str, password: str | None = None) -> str:
    """A user in the client's OU; enabled only when a password is given (set over LDAPS)."""
    dn = f"CN={login},{ou}"
    conn.add(dn, "user", {"sAMAccountName": login, "userPrincipalName": f"{login}@seatmeter.test"})
    if password is not None:
        conn.extend.microsoft.modify_password(dn, password)  # unicodePwd, quoted UTF-16-LE
        # PASSWD_NOTREQD too: AD sets it on a user added without a password, and it would let the
        # password be blanked later.
        set_flags(conn, dn, clear=ACCOUNTDISABLE | PASSWD_NOTREQD)
    return dn


def uac(conn: ldap3.Connection, dn: str) -> int:
    conn.search(dn, "(objectClass=*)", ldap3.BASE, attributes=["userAccountControl"])
    return int(conn.entries[0].userAccountControl.value)


def set_flags(conn: ldap3.Connection, dn: str, *, set_: int = 0, clear: int = 0) -> None:
    """Change userAccountControl bits, keeping the others (a constant 514 would drop them)."""
    conn.modify(dn, {"userAccountControl": [(ldap3.MODIFY_REPLACE, [(uac(conn, dn) | set_) & ~clear])]})


def members(conn: ldap3.Connection, group: str) -> set[str]:
    conn.search(group, "(objectClass=group)", ldap3.BASE, attributes=["member"])
    return {dn.lower() for dn in conn.entries[0].member.values}


def accounts_in_group(conn: ldap3.Connection, d: Directory, group: str, nested: bool = False) -> set[str]:
    """sAMAccountNames of the users in group, as a true-up reads them (paged, users only)."""
    rule = "memberOf:1.2.840.113556.1.4.1941:" if nested else "memberOf"  # in-chain rule expands nesting
    found = conn.extend.standard.paged_search(
        d.base_dn,
        f"(&(objectCategory=person)(objectClass=user)({rule}={group}))",
        attributes=["sAMAccountName"],
        paged_size=500,
        generator=False,
    )
    return {e["attributes"]["sAMAccountName"] for e in found if e["type"] == "searchResEntry"}


def user_can_bind(d: Directory, dn: str, password: str) -> tuple[bool, str]:
    conn = ldap3.Connection(d.server(), user=dn, password=password, raise_exceptions=False)
    ok = conn.bind()
    message = conn.result["message"]
    conn.unbind()
    return ok, message


# --- the stand-in itself ---------------------------------------------------------------------------


def test_ldaps_bind_and_root_dse(directory):
    assert directory.kind == "samba-ad"
    assert (directory.port, directory.use_ssl) == (636, True)
    with directory.connect() as conn:
        root = conn.server.info.other  # the root DSE, read at bind (get_info=ALL)
        # ldap3 gives some root DSE values as a list, single-valued ones (dnsHostName) as a str.
        assert root["defaultNamingContext"] == [directory.base_dn]
        assert root["dnsHostName"] in (directory.tls_hostname, [directory.tls_hostname])
        conn.search(directory.clients_dn, "(objectClass=organizationalUnit)", ldap3.BASE)
        assert len(conn.entries) == 1


def test_plain_ldap_simple_bind_needs_tls(directory):
    # Samba's default (as AD hardened): no simple bind in clear text. StartTLS on 389 is fine.
    # get_info=DSA: ldap3's StartTLS re-reads server info before the bind, and the schema part of
    # that is refused anonymously ("00002020: Operation unavailable without authentication").
    tls = ldap3.Tls(validate=ssl.CERT_NONE)
    plain = ldap3.Server(directory.host, port=389, tls=tls, get_info=ldap3.DSA)
    conn = ldap3.Connection(plain, directory.bind_dn, directory.bind_password, raise_exceptions=True)
    with pytest.raises(LDAPStrongerAuthRequiredResult):
        conn.bind()
    conn.unbind()
    conn = ldap3.Connection(plain, directory.bind_dn, directory.bind_password, raise_exceptions=True)
    conn.open()
    assert conn.start_tls()
    assert conn.bind()
    conn.unbind()


def test_ldaps_certificate_verifies_against_generated_ca(directory):
    conn = ldap3.Connection(directory.server(tls_verify=True), directory.bind_dn, directory.bind_password)
    assert conn.bind()
    conn.unbind()
    # Without the certificate's own name ldap3 checks 127.0.0.1, which the certificate does not carry.
    tls = ldap3.Tls(validate=ssl.CERT_REQUIRED, ca_certs_file=str(directory.ca_file))
    server = ldap3.Server(directory.host, port=directory.port, use_ssl=True, tls=tls)
    with pytest.raises(LDAPSocketOpenError, match="doesn't match"):
        ldap3.Connection(server, directory.bind_dn, directory.bind_password).bind()


# --- the product's operations ----------------------------------------------------------------------


def test_new_user_is_disabled_until_password_and_enable(clean_directory):
    d = clean_directory
    with d.connect() as conn:
        ou, _group = add_client(conn, d, "acme")
        dn = add_user(conn, ou, "acme-alice")
        assert uac(conn, dn) == NORMAL_ACCOUNT | ACCOUNTDISABLE | PASSWD_NOTREQD  # 546
        conn.extend.microsoft.modify_password(dn, USER_PASSWORD)
        set_flags(conn, dn, set_=DONT_EXPIRE_PASSWORD, clear=ACCOUNTDISABLE | PASSWD_NOTREQD)
        assert uac(conn, dn) == NORMAL_ACCOUNT | DONT_EXPIRE_PASSWORD
    assert user_can_bind(d, dn, USER_PASSWORD)[0]


def test_weak_password_is_rejected_by_policy(clean_directory):
    d = clean_directory
    with d.connect() as conn:
        ou, _group = add_client(conn, d, "acme")
        dn = add_user(conn, ou, "acme-weak")
        with pytest.raises(LDAPConstraintViolationResult, match="too short"):
            conn.extend.microsoft.modify_password(dn, "abc")


def test_assign_and_unassign_rds_group(clean_directory):
    d = clean_directory
    with d.connect() as conn:
        ou, group = add_client(conn, d, "acme")
        dn = add_user(conn, ou, "acme-bob", USER_PASSWORD)
        assert members(conn, group) == set()

        conn.modify(group, {"member": [(ldap3.MODIFY_ADD, [dn])]})
        assert members(conn, group) == {dn.lower()}
        conn.search(dn, "(objectClass=*)", ldap3.BASE, attributes=["memberOf"])
        assert conn.entries[0].memberOf.values == [group]  # back-link, computed at once
        assert accounts_in_group(conn, d, group) == {"acme-bob"}

        conn.modify(group, {"member": [(ldap3.MODIFY_DELETE, [dn])]})  # suspend / unassign
        assert members(conn, group) == set()
        assert accounts_in_group(conn, d, group) == set()


def test_disable_then_delete_user(clean_directory):
    d = clean_directory
    with d.connect() as conn:
        ou, group = add_client(conn, d, "acme")
        dn = add_user(conn, ou, "acme-carol", USER_PASSWORD)
        conn.modify(group, {"member": [(ldap3.MODIFY_ADD, [dn])]})
        set_flags(conn, dn, set_=DONT_EXPIRE_PASSWORD)

        set_flags(conn, dn, set_=ACCOUNTDISABLE)  # terminate, step 1
        assert uac(conn, dn) == NORMAL_ACCOUNT | ACCOUNTDISABLE | DONT_EXPIRE_PASSWORD
        ok, message = user_can_bind(d, dn, USER_PASSWORD)
        assert not ok
        assert "data 533" in message  # AD's "account disabled" sub-code
        disabled = conn.extend.standard.paged_search(
            ou,
            "(userAccountControl:1.2.840.113556.1.4.803:=2)",
            attributes=["sAMAccountName"],
            generator=False,
        )
        assert [e["attributes"]["sAMAccountName"] for e in disabled] == ["acme-carol"]

        conn.delete(dn)  # terminate, step 2
        with pytest.raises(LDAPNoSuchObjectResult):
            conn.search(dn, "(objectClass=*)", ldap3.BASE)
        assert members(conn, group) == set()  # AD drops the link with the user


def test_membership_added_behind_products_back_is_discovered(clean_directory):
    d = clean_directory
    with d.connect() as product:
        ou, group = add_client(product, d, "acme")
        known = add_user(product, ou, "acme-known", USER_PASSWORD)
        product.modify(group, {"member": [(ldap3.MODIFY_ADD, [known])]})

    # The client's admin, on another connection: a user added straight to the RDS group, and a
    # nested group whose members RDS authorizes too (and SPLA counts).
    with d.connect() as admin:
        stray = add_user(admin, ou, "acme-stray", USER_PASSWORD)
        admin.modify(group, {"member": [(ldap3.MODIFY_ADD, [stray])]})
        helpdesk = f"CN=acme-helpdesk,{ou}"
        admin.add(helpdesk, "group", {"sAMAccountName": "acme-helpdesk"})
        nested = add_user(admin, ou, "acme-nested", USER_PASSWORD)
        admin.modify(helpdesk, {"member": [(ldap3.MODIFY_ADD, [nested])]})
        admin.modify(group, {"member": [(ldap3.MODIFY_ADD, [helpdesk])]})

    with d.connect() as discovery:
        assert members(discovery, group) == {known.lower(), stray.lower(), helpdesk.lower()}
        assert accounts_in_group(discovery, d, group) == {"acme-known", "acme-stray"}
        assert accounts_in_group(discovery, d, group, nested=True) == {
            "acme-known",
            "acme-stray",
            "acme-nested",
        }


def test_clean_directory_empties_clients_ou_and_names_can_be_reused(clean_directory):
    d = clean_directory
    with d.connect() as conn:
        for ref in ("acme", "globex"):
            ou, group = add_client(conn, d, ref)
            conn.modify(group, {"member": [(ldap3.MODIFY_ADD, [add_user(conn, ou, f"{ref}-dan")])]})
        assert delete_children(conn, d.clients_dn) == 6
        conn.search(d.clients_dn, "(objectClass=*)", ldap3.SUBTREE)
        assert [e.entry_dn for e in conn.entries] == [d.clients_dn]
        # Deleted objects become tombstones in AD; the same names are free again at once.
        ou, _group = add_client(conn, d, "acme")
        add_user(conn, ou, "acme-dan")
