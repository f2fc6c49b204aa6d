"""The AWS stand-ins behave the way product code will rely on (real boto3 clients, real processes).

Findings pinned here so a moto/botocore upgrade that changes them fails loudly:
* moto WorkSpaces happily creates a SECOND WorkSpace for the same user in the same directory (both
  AVAILABLE, no FailedRequests).  Product code must look first (describe_workspaces with DirectoryId +
  UserName) and never rely on the stand-in to reject duplicates.
* moto removes a terminated WorkSpace at once (real AWS: TERMINATING, then TERMINATED for a while);
  terminating an unknown/already-terminated id is a FailedRequests entry with ErrorCode "400", not an
  exception.  Bundle ids are not validated.
* botocore 1.44 defaults to the "standard" retry mode (3 attempts).  ``Config(retries={"max_attempts": 1})``
  still allows ONE retry, so a single injected throttle is retried and succeeds; to see the first error
  use ``total_max_attempts=1`` (or ``max_attempts=0``).  ThrottlingException, LimitExceededException and
  HTTP 5xx are all retried.
"""

from __future__ import annotations

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from tests.standins.aws import (
    inject_workmail_fault,
    make_workspaces_directory,
    workmail_call_counts,
)

BUNDLE = "wsb-12345678"
NO_RETRY = Config(retries={"total_max_attempts": 1})
STRONG = "Corr3ct-Horse"


@pytest.fixture
def workspaces(aws_env):
    return boto3.client("workspaces", endpoint_url=aws_env.endpoint_url, region_name=aws_env.region)


@pytest.fixture
def wm(workmail):
    return boto3.client("workmail", endpoint_url=workmail.endpoint_url, region_name=workmail.region)


def error_code(exc_info: pytest.ExceptionInfo[ClientError]) -> str:
    return str(exc_info.value.response["Error"]["Code"])


# -- moto / WorkSpaces -----------------------------------------------------------------------------


def test_moto_listens_on_loopback_only(moto_server):
    assert moto_server.endpoint_url.startswith("http://127.0.0.1:")
    assert moto_server.region == "us-east-1"


def test_reset_leaves_no_directories_behind(workspaces):
    # Runs after/before the lifecycle tests in any order: aws_env reset moto.
    assert workspaces.describe_workspace_directories()["Directories"] == []
    assert workspaces.describe_workspaces()["Workspaces"] == []


def test_workspace_create_describe_terminate(aws_env, workspaces):
    directory_id = make_workspaces_directory(aws_env.endpoint_url)
    created = workspaces.create_workspaces(
        Workspaces=[{"DirectoryId": directory_id, "UserName": "alice", "BundleId": BUNDLE}]
    )
    assert created["FailedRequests"] == []
    (pending,) = created["PendingRequests"]
    assert pending["State"] == "AVAILABLE"  # moto skips PENDING

    found = workspaces.describe_workspaces(DirectoryId=directory_id, UserName="alice")["Workspaces"]
    assert [(w["WorkspaceId"], w["BundleId"]) for w in found] == [(pending["WorkspaceId"], BUNDLE)]

    result = workspaces.terminate_workspaces(
        TerminateWorkspaceRequests=[{"WorkspaceId": pending["WorkspaceId"]}]
    )
    assert result["FailedRequests"] == []
    assert workspaces.describe_workspaces(DirectoryId=directory_id)["Workspaces"] == []

    again = workspaces.terminate_workspaces(
        TerminateWorkspaceRequests=[{"WorkspaceId": pending["WorkspaceId"]}]
    )
    assert [f["ErrorCode"] for f in again["FailedRequests"]] == ["400"]


def test_moto_creates_duplicate_workspace_for_same_user(aws_env, workspaces):
    directory_id = make_workspaces_directory(aws_env.endpoint_url)
    request = [{"DirectoryId": directory_id, "UserName": "alice", "BundleId": BUNDLE}]
    first = workspaces.create_workspaces(Workspaces=request)
    second = workspaces.create_workspaces(Workspaces=request)
    # moto: no FailedRequests, a second WorkSpace id.  Product code must check before creating.
    assert second["FailedRequests"] == []
    assert second["PendingRequests"][0]["WorkspaceId"] != first["PendingRequests"][0]["WorkspaceId"]
    found = workspaces.describe_workspaces(DirectoryId=directory_id, UserName="alice")["Workspaces"]
    assert len(found) == 2


def test_create_in_unregistered_directory_is_a_failed_request(workspaces):
    result = workspaces.create_workspaces(
        Workspaces=[{"DirectoryId": "d-0000000000", "UserName": "bob", "BundleId": BUNDLE}]
    )
    assert [f["ErrorCode"] for f in result["FailedRequests"]] == ["ResourceNotFound.Directory"]


# -- WorkMail stand-in -----------------------------------------------------------------------------


def test_workmail_user_lifecycle(workmail, wm):
    org = workmail.organization_id
    assert wm.describe_organization(OrganizationId=org)["State"] == "Active"

    user_id = wm.create_user(OrganizationId=org, Name="alice", DisplayName="Alice", Password=STRONG)["UserId"]
    assert wm.describe_user(OrganizationId=org, UserId=user_id)["State"] == "DISABLED"

    email = f"alice@{workmail.mail_domain}"
    wm.register_to_work_mail(OrganizationId=org, EntityId=user_id, Email=email)
    user = wm.describe_user(OrganizationId=org, UserId=user_id)
    assert (user["State"], user["Email"], user["Name"], user["DisplayName"]) == (
        "ENABLED",
        email,
        "alice",
        "Alice",
    )
    assert "EnabledDate" in user

    wm.update_user(OrganizationId=org, UserId=user_id, DisplayName="Alice A.")
    wm.reset_password(OrganizationId=org, UserId=user_id, Password="An0ther-Secret")
    assert (
        wm.describe_user(OrganizationId=org, UserId=email)["DisplayName"] == "Alice A."
    )  # id, name or email

    wm.deregister_from_work_mail(OrganizationId=org, EntityId=user_id)
    user = wm.describe_user(OrganizationId=org, UserId=user_id)
    assert user["State"] == "DISABLED"
    assert "DisabledDate" in user

    wm.delete_user(OrganizationId=org, UserId=user_id)
    assert wm.describe_user(OrganizationId=org, UserId=user_id)["State"] == "DELETED"
    # The name is free again after deletion.
    wm.create_user(OrganizationId=org, Name="alice", DisplayName="Alice II")


def test_workmail_list_users_pages(workmail, wm):
    org = workmail.organization_id
    names = [f"user{i}" for i in range(5)]
    for name in names:
        wm.create_user(OrganizationId=org, Name=name, DisplayName=name.title())

    first = wm.list_users(OrganizationId=org, MaxResults=2)
    assert [u["Name"] for u in first["Users"]] == names[:2]
    assert "NextToken" in first

    pages = wm.get_paginator("list_users").paginate(OrganizationId=org, PaginationConfig={"PageSize": 2})
    page_sizes = []
    seen = []
    for page in pages:
        page_sizes.append(len(page["Users"]))
        seen += [u["Name"] for u in page["Users"]]
    assert (page_sizes, seen) == ([2, 2, 1], names)


def test_workmail_errors(workmail, wm):
    org = workmail.organization_id
    user_id = wm.create_user(OrganizationId=org, Name="bob", DisplayName="Bob")["UserId"]
    wm.register_to_work_mail(OrganizationId=org, EntityId=user_id, Email=f"bob@{workmail.mail_domain}")
    wm.create_user(OrganizationId=org, Name="carol", DisplayName="Carol")  # stays DISABLED

    cases = [
        (
            "NameAvailabilityException",
            lambda: wm.create_user(OrganizationId=org, Name="bob", DisplayName="B"),
        ),
        ("EntityStateException", lambda: wm.delete_user(OrganizationId=org, UserId=user_id)),
        ("OrganizationNotFoundException", lambda: wm.list_users(OrganizationId="m-" + "0" * 32)),
        ("EntityNotFoundException", lambda: wm.describe_user(OrganizationId=org, UserId="no-such-user-id")),
        (
            "InvalidParameterException",
            lambda: wm.create_user(OrganizationId=org, Name="no spaces", DisplayName="x"),
        ),
        (
            "InvalidPasswordException",
            lambda: wm.create_user(OrganizationId=org, Name="c", DisplayName="C", Password="weak"),
        ),
        (
            "InvalidPasswordException",
            lambda: wm.reset_password(OrganizationId=org, UserId=user_id, Password="password"),
        ),
        (
            "EntityAlreadyRegisteredException",
            lambda: wm.register_to_work_mail(
                OrganizationId=org, EntityId=user_id, Email=f"b2@{workmail.mail_domain}"
            ),
        ),
        (
            "MailDomainNotFoundException",
            lambda: wm.register_to_work_mail(
                OrganizationId=org, EntityId="carol", Email="carol@elsewhere.example"
            ),
        ),
    ]
    for expected, call in cases:
        with pytest.raises(ClientError) as exc_info:
            call()
        assert error_code(exc_info) == expected


def test_workmail_email_in_use(workmail, wm):
    org = workmail.organization_id
    email = f"shared@{workmail.mail_domain}"
    first = wm.create_user(OrganizationId=org, Name="one", DisplayName="One")["UserId"]
    second = wm.create_user(OrganizationId=org, Name="two", DisplayName="Two")["UserId"]
    wm.register_to_work_mail(OrganizationId=org, EntityId=first, Email=email)
    with pytest.raises(ClientError) as exc_info:
        wm.register_to_work_mail(OrganizationId=org, EntityId=second, Email=email)
    assert error_code(exc_info) == "EmailAddressInUseException"
    # Error shape as the modeled exception: botocore fills Error.Message.
    assert exc_info.value.response["Error"]["Message"]


def test_workmail_create_organization(workmail, wm):
    org_id = wm.create_organization(Alias="second-org")["OrganizationId"]
    assert wm.describe_organization(OrganizationId=org_id)["DefaultMailDomain"] == "second-org.awsapps.com"
    with pytest.raises(ClientError) as exc_info:
        wm.create_organization(Alias="second-org")
    assert error_code(exc_info) == "NameAvailabilityException"


def test_injected_throttling_surfaces_without_retries(workmail):
    client = boto3.client(
        "workmail", endpoint_url=workmail.endpoint_url, region_name=workmail.region, config=NO_RETRY
    )
    inject_workmail_fault(workmail, "CreateUser", "ThrottlingException", status=400, count=1)
    with pytest.raises(ClientError) as exc_info:
        client.create_user(OrganizationId=workmail.organization_id, Name="t", DisplayName="T")
    assert error_code(exc_info) == "ThrottlingException"
    assert workmail_call_counts(workmail) == {"CreateUser": 1}
    # The fault is used up: the next call goes through.
    client.create_user(OrganizationId=workmail.organization_id, Name="t", DisplayName="T")


def test_max_attempts_1_still_retries_once(workmail):
    config = Config(retries={"max_attempts": 1})
    client = boto3.client(
        "workmail", endpoint_url=workmail.endpoint_url, region_name=workmail.region, config=config
    )
    inject_workmail_fault(workmail, "ListUsers", "ThrottlingException", count=1)
    response = client.list_users(OrganizationId=workmail.organization_id)
    assert response["ResponseMetadata"]["RetryAttempts"] == 1
    assert workmail_call_counts(workmail) == {"ListUsers": 2}


def test_default_client_retries_5xx(workmail, wm):
    inject_workmail_fault(workmail, "ListUsers", "InternalFailure", status=500, count=2)
    response = wm.list_users(OrganizationId=workmail.organization_id)  # standard mode: 3 attempts
    assert response["ResponseMetadata"]["RetryAttempts"] == 2

    inject_workmail_fault(workmail, "ListUsers", "InternalFailure", status=500, count=3)
    with pytest.raises(ClientError) as exc_info:
        wm.list_users(OrganizationId=workmail.organization_id)
    assert error_code(exc_info) == "InternalFailure"
    assert workmail_call_counts(workmail) == {"ListUsers": 6}
