"""The Active Directory adapter against a real Samba AD DC over LDAPS, through ldap3."""

from __future__ import annotations

import ldap3
import pytest

from provisioning.adapters import build_adapter
from provisioning.adapters.active_directory import ActiveDirectoryAdapter
from provisioning.adapters.base import (
    AccountState,
    AdapterError,
    FoundAccount,
    NotConfigured,
    SeatRequest,
    SeatUser,
)

pytestmark = pytest.mark.slow


@pytest.fixture
def adapter(clean_directory) -> ActiveDirectoryAdapter:
    d = clean_directory
    return ActiveDirectoryAdapter(
        f"ldaps://{d.host}:{d.port}",
        d.bind_dn,
        d.bind_password,
        d.clients_dn,
        ca_file=str(d.ca_file),
        tls_server_name=d.tls_hostname,
    )


def request(seat_id: int = 7, email: str | None = "alice@acme.example", client: str = "acme", **kwargs):
    user = SeatUser(email, "Alice Ward") if email else None
    return SeatRequest(seat_id, client, "desktop", f"seatmeter-seat-{seat_id}-create-r1", user=user, **kwargs)


def known(made, seat_id: int = 7, client: str = "acme") -> SeatRequest:
    """A later step of the seat: the account's id and person are recorded."""
    return SeatRequest(
        seat_id, client, "desktop", "k", external_id=made.external_id, account_user="alice@acme.example"
    )


def uac(conn, dn: str) -> int:
    conn.search(dn, "(objectClass=*)", ldap3.BASE, attributes=["userAccountControl"])
    return int(conn.entries[0].userAccountControl.value)


def can_sign_in(d, email: str, password: str) -> bool:
    conn = ldap3.Connection(d.server(), user=email, password=password, raise_exceptions=False)
    ok = conn.bind()
    conn.unbind()
    return ok


def test_create_makes_an_enabled_member_that_can_sign_in_once(adapter, clean_directory):
    d = clean_directory
    made = adapter.create(request())
    again = adapter.create(request(external_id=made.external_id))  # a repeated step

    assert again.external_id == made.external_id and made.state is AccountState.ENABLED
    assert (made.user, made.name, made.seat_id) == ("alice@acme.example", "alice", 7)
    assert made.secret and again.secret is None  # the password is set (and shown) once
    assert can_sign_in(d, "alice@acme.example", made.secret)
    with d.connect() as conn:
        dn = f"CN=alice@acme.example,OU=acme,{d.clients_dn}"
        assert uac(conn, dn) & 0x22 == 0  # neither disabled nor "password not required"
        conn.search(f"CN=acme-rds-users,OU=acme,{d.clients_dn}", "(objectClass=group)", attributes=["member"])
        assert [m.lower() for m in conn.entries[0].member.values] == [dn.lower()]
    assert [(a.external_id, a.user) for a in adapter.list_accounts()] == [
        (made.external_id, "alice@acme.example")
    ]


def test_someone_elses_account_is_never_adopted(adapter):
    adapter.create(request(7))
    with pytest.raises(AdapterError) as caught:
        adapter.create(request(8))
    assert not caught.value.retryable and "does not belong to this seat" in caught.value.message


def test_suspend_resume_terminate(adapter, clean_directory):
    made = adapter.create(request())
    assert adapter.suspend(known(made)).state is AccountState.DISABLED
    assert not can_sign_in(clean_directory, "alice@acme.example", made.secret)
    assert adapter.list_accounts()[0].state is AccountState.DISABLED
    assert adapter.resume(known(made)).state is AccountState.ENABLED
    assert can_sign_in(clean_directory, "alice@acme.example", made.secret)

    adapter.terminate(known(made))
    adapter.terminate(known(made))  # already gone: fine
    assert adapter.describe(known(made)) is None and adapter.list_accounts() == []
    with pytest.raises(AdapterError):
        adapter.suspend(known(made))


def test_found_by_name_when_the_id_was_lost(adapter):
    made = adapter.create(request())
    lost = SeatRequest(7, "acme", "desktop", "k", account_user="alice@acme.example")
    assert adapter.describe(lost).external_id == made.external_id


def test_a_user_added_to_the_group_by_hand_is_listed_and_only_loses_the_membership(adapter, clean_directory):
    d = clean_directory
    adapter.create(request())  # makes acme's OU and group
    with d.connect() as conn:
        conn.add(f"OU=staff,{d.clients_dn}", "organizationalUnit")
        nested = f"CN=acme-helpdesk,OU=staff,{d.clients_dn}"
        conn.add(nested, "group", {"sAMAccountName": "acme-helpdesk"})
        bob = f"CN=bob,OU=staff,{d.clients_dn}"
        conn.add(bob, "user", {"sAMAccountName": "bob", "userPrincipalName": "bob@acme.example"})
        # bob gets in through a nested group: only the in-chain rule sees him.
        conn.modify(nested, {"member": [(ldap3.MODIFY_ADD, [bob])]})
        group = f"CN=acme-rds-users,OU=acme,{d.clients_dn}"
        conn.modify(group, {"member": [(ldap3.MODIFY_ADD, [nested])]})

    memberships = {m.account.user: m for m in adapter.list_memberships()}
    assert set(memberships) == {"alice@acme.example", "bob@acme.example"}
    stray = memberships["bob@acme.example"]
    assert (stray.client_ref, stray.account.seat_id, stray.account.state) == (
        "acme",
        None,
        AccountState.DISABLED,
    )
    assert stray.created_at is not None

    # Removing it (a true-up's "enforce") takes away the membership and leaves bob's user alone.
    with d.connect() as conn:
        conn.modify(nested, {"member": [(ldap3.MODIFY_DELETE, [bob])]})
        conn.modify(group, {"member": [(ldap3.MODIFY_ADD, [bob])]})
    adapter.terminate(SeatRequest(0, "acme", "desktop", "k", external_id=stray.account.external_id))
    assert [a.user for a in adapter.list_accounts()] == ["alice@acme.example"]
    with d.connect() as conn:
        assert conn.search(bob, "(objectClass=user)", ldap3.BASE)


def test_two_clients_with_the_same_first_name(adapter):
    acme = adapter.create(request(7, "alice@acme.example", "acme"))
    other = adapter.create(request(8, "alice@bright.example", "bright"))
    assert acme.name == "alice" and other.name.startswith("alice-")  # logon names are domain-wide
    assert sorted(a.user for a in adapter.list_accounts()) == ["alice@acme.example", "alice@bright.example"]


def test_bad_credentials_and_unreachable_directory(clean_directory):
    d = clean_directory
    wrong = ActiveDirectoryAdapter(
        f"ldaps://{d.host}",
        d.bind_dn,
        "nope",
        d.clients_dn,
        ca_file=str(d.ca_file),
        tls_server_name=d.tls_hostname,
    )
    with pytest.raises(AdapterError) as caught:
        wrong.list_accounts()
    assert not caught.value.retryable and "AD_BIND_PASSWORD" in caught.value.message
    away = ActiveDirectoryAdapter("ldaps://127.0.0.1:1", d.bind_dn, d.bind_password, d.clients_dn)
    with pytest.raises(AdapterError) as caught:
        away.list_accounts()
    assert caught.value.retryable


def test_certificate_that_does_not_match_is_refused(clean_directory):
    d = clean_directory
    unverified_name = ActiveDirectoryAdapter(
        f"ldaps://{d.host}", d.bind_dn, d.bind_password, d.clients_dn, ca_file=str(d.ca_file)
    )
    with pytest.raises(AdapterError) as caught:
        unverified_name.list_accounts()
    assert not caught.value.retryable


def test_built_from_settings():
    config = {"AD_LDAP_URL": "ldaps://dc1.corp.example", "AD_BIND_DN": "CN=svc,DC=corp,DC=example"}
    with pytest.raises(NotConfigured) as caught:
        build_adapter("active_directory", "desktop", config)
    assert "AD_BIND_PASSWORD" in caught.value.message and "AD_CLIENTS_OU" in caught.value.message
    built = build_adapter(
        "active_directory",
        "desktop",
        {**config, "AD_BIND_PASSWORD": "x", "AD_CLIENTS_OU": "OU=Clients,DC=corp,DC=example"},
    )
    assert built.domain_dn == "DC=corp,DC=example"
    assert built.group_dn("acme") == "CN=acme-rds-users,OU=acme,OU=Clients,DC=corp,DC=example"


# -- what true-ups read --------------------------------------------------------------------------------


def test_discover_names_the_client_and_person_and_every_group(adapter, clean_directory):
    d = clean_directory
    made = adapter.create(request(7, "alice@acme.example", "acme"))
    adapter.create(request(8, "bob@bright.example", "bright"))
    alice = f"CN=alice@acme.example,OU=acme,{d.clients_dn}"
    bright_group = f"CN=bright-rds-users,OU=bright,{d.clients_dn}"
    with d.connect() as conn:
        conn.modify(bright_group, {"member": [(ldap3.MODIFY_ADD, [alice])]})  # by hand, at the colo

    found = {f.account.external_id: f for f in adapter.discover()}
    assert len(found) == 2  # alice is one account, though in two clients' groups
    first = found[made.external_id]
    assert (first.client_ref, first.person, first.account_key, first.account.seat_id) == (
        "acme",
        "alice@acme.example",
        "alice@acme.example",
        7,
    )
    assert first.named_by == "the client's OU and RDS group"
    assert first.evidence["dn"].lower() == alice.lower() and first.evidence["state"] == "enabled"
    assert first.evidence["group"] == f"CN=acme-rds-users,OU=acme,{d.clients_dn}"
    assert [g.lower() for g in first.evidence["also_in"]] == [bright_group.lower()]
    assert first.evidence["when_created"] and "secret" not in first.evidence
    assert (first.extension, first.sign_in_name) == (None, None)


def test_naming_for_true_ups(adapter):
    assert adapter.account_name(" Alice@Acme.Example ") == "alice@acme.example"  # the UPN
    stranger = FoundAccount("6f1c3c1e-0000-4000-8000-000000000000", seat_id=None, client_ref="acme")
    assert adapter.removal_problem(stranger) is None  # only its membership goes
    assert adapter.extension_of(stranger) is None
