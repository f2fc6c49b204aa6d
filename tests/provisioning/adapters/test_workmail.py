"""The WorkMail adapter against the WorkMail stand-in, through the real boto3 client."""

from __future__ import annotations

import boto3
import pytest

from provisioning.adapters.base import AccountState, AdapterError, FoundAccount, SeatRequest, SeatUser
from provisioning.adapters.workmail import WorkMailAdapter, workmail_name
from tests.standins.aws import inject_workmail_fault, workmail_call_counts

pytestmark = pytest.mark.slow


@pytest.fixture
def adapter(workmail) -> WorkMailAdapter:
    return WorkMailAdapter(
        workmail.organization_id, workmail.mail_domain, workmail.endpoint_url, workmail.region
    )


@pytest.fixture
def wm(workmail):
    return boto3.client("workmail", endpoint_url=workmail.endpoint_url, region_name=workmail.region)


def request(email: str | None = "alice@acme.example", **kwargs) -> SeatRequest:
    user = SeatUser(email, "Alice Ward") if email else None
    return SeatRequest(5, "acme", "exchange", "seatmeter-seat-5-create-r1", user=user, **kwargs)


def test_create_is_idempotent_and_registers_the_mailbox(adapter, wm, workmail):
    first = adapter.create(request())
    again = adapter.create(request())

    assert again.external_id == first.external_id and first.state is AccountState.ENABLED
    user = wm.describe_user(OrganizationId=workmail.organization_id, UserId=first.external_id)
    assert (user["Name"], user["Email"], user["State"]) == (
        "alice@acme.example",
        f"alice@{workmail.mail_domain}",
        "ENABLED",
    )
    assert workmail_call_counts(workmail)["CreateUser"] == 1


def test_suspend_resume_terminate(adapter, wm, workmail):
    made = adapter.create(request())
    ref = request(email=None, external_id=made.external_id, account_user="alice@acme.example")

    assert adapter.suspend(ref).state is AccountState.DISABLED
    assert adapter.suspend(ref).state is AccountState.DISABLED  # again: fine
    assert adapter.resume(ref).state is AccountState.ENABLED
    adapter.terminate(ref)  # deregisters first: WorkMail refuses to delete a registered user
    adapter.terminate(ref)
    assert adapter.describe(ref) is None
    state = wm.describe_user(OrganizationId=workmail.organization_id, UserId=made.external_id)["State"]
    assert state == "DELETED"


def test_throttling_is_retryable_and_not_retried_by_botocore(adapter, workmail):
    inject_workmail_fault(workmail, "CreateUser", "ThrottlingException", count=1)
    with pytest.raises(AdapterError) as caught:
        adapter.create(request())
    assert caught.value.retryable and caught.value.code == "ThrottlingException"
    assert workmail_call_counts(workmail)["CreateUser"] == 1


def test_server_errors_are_retryable_bad_requests_are_not(adapter, workmail):
    inject_workmail_fault(workmail, "DescribeUser", "InternalFailure", status=500, count=1)
    with pytest.raises(AdapterError) as caught:
        adapter.create(request())
    assert caught.value.retryable

    with pytest.raises(AdapterError) as caught:
        WorkMailAdapter("m-" + "0" * 32, None, workmail.endpoint_url, workmail.region).create(request())
    assert not caught.value.retryable and caught.value.code == "OrganizationNotFoundException"


def test_address_outside_the_organizations_domains_is_permanent(workmail):
    adapter = WorkMailAdapter(workmail.organization_id, None, workmail.endpoint_url, workmail.region)
    with pytest.raises(AdapterError) as caught:
        adapter.create(request())
    assert not caught.value.retryable and caught.value.code == "MailDomainNotFoundException"


def test_list_accounts(adapter):
    adapter.create(request())
    adapter.create(request("bob+it@acme.example"))
    assert sorted(a.name for a in adapter.list_accounts()) == ["alice@acme.example", "bob-it@acme.example"]
    assert workmail_name("Bob+IT@Acme.Example") == "bob-it@acme.example"


# -- what true-ups read --------------------------------------------------------------------------------


def test_discover_names_the_person_by_the_workmail_name(adapter, workmail):
    made = adapter.create(request())
    (found,) = adapter.discover()
    assert found.account.external_id == made.external_id
    # The mailbox address is at the organization's domain; the WorkMail name is the person's e-mail.
    assert found.account.user == f"alice@{workmail.mail_domain}"
    assert (found.person, found.account_key) == ("alice@acme.example", "alice@acme.example")
    assert (found.client_ref, found.named_by, found.extension, found.sign_in_name) == (None, None, None, None)
    assert found.evidence["state"] == "enabled" and found.evidence["name"] == "alice@acme.example"


def test_naming_for_true_ups(adapter):
    assert adapter.account_name("Bob+IT@Acme.Example") == "bob-it@acme.example"
    assert adapter.removal_problem(FoundAccount("user-id")) is None
    assert adapter.extension_of(FoundAccount("user-id")) is None
