"""Hosted desktops on Amazon WorkSpaces: one WorkSpace per seat, for a user of the reseller's directory.

The directory user name is the local part of the person's e-mail (their sign-in name in the
reseller's directory). WorkSpaces has no idempotency token on CreateWorkspaces and happily makes a
second WorkSpace for the same user, so creating always looks first (DirectoryId + UserName) and
each WorkSpace is tagged with its seat and the step's idempotency key; a WorkSpace of that user
tagged for another seat, or not tagged by Seatmeter, is never adopted.

A WorkSpace cannot change hands: reassignment removes it and creates the new person's.
Suspension puts it in ADMIN_MAINTENANCE (the user cannot sign in), resumption makes it AVAILABLE.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from provisioning.adapters.aws import aws_errors, make_client
from provisioning.adapters.base import (
    Account,
    AccountState,
    AdapterError,
    Discovered,
    FoundAccount,
    NotConfigured,
    ReplacedOnReassign,
    SeatRequest,
    account_evidence,
)

PLATFORM = "WorkSpaces"
SEAT_TAG = "seatmeter:seat"
CLIENT_TAG = "seatmeter:client"
KEY_TAG = "seatmeter:idempotency-key"
GONE = frozenset({"TERMINATING", "TERMINATED"})
_STATES = {
    "AVAILABLE": AccountState.ENABLED,
    "PENDING": AccountState.PENDING,
    "ADMIN_MAINTENANCE": AccountState.DISABLED,
    "STOPPED": AccountState.ENABLED,  # AutoStop: the user starts it by signing in
}
# Failed requests of CreateWorkspaces that are worth trying again.
_RETRYABLE_FAILURES = frozenset({"ThrottlingException", "InternalFailure", "ServiceUnavailable"})


def user_name(email: str) -> str:
    return email.split("@", 1)[0].strip().lower()[:63]


def _seat_in(tags: dict[str, str]) -> int | None:
    value = tags.get(SEAT_TAG)
    return int(value) if value and value.isdigit() else None


class WorkSpacesAdapter(ReplacedOnReassign):
    name = "workspaces"

    def __init__(self, directory_id: str, bundle_id: str, endpoint_url: str | None, region: str) -> None:
        self.directory_id = directory_id
        self.bundle_id = bundle_id
        self.client = make_client("workspaces", endpoint_url, region)

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> WorkSpacesAdapter:
        if not config.get("WORKSPACES_DIRECTORY_ID") or not config.get("WORKSPACES_BUNDLE_ID"):
            raise NotConfigured(
                "Hosted desktops are not configured on this installation yet: the reseller has to set "
                "WORKSPACES_DIRECTORY_ID and WORKSPACES_BUNDLE_ID."
            )
        return cls(
            config["WORKSPACES_DIRECTORY_ID"],
            config["WORKSPACES_BUNDLE_ID"],
            config.get("WORKSPACES_ENDPOINT_URL") or config.get("AWS_ENDPOINT_URL"),
            config.get("AWS_REGION") or "us-east-1",
        )

    # -- the Adapter protocol ------------------------------------------------------------------------
    def create(self, request: SeatRequest) -> Account:
        if request.user is None:
            raise AdapterError("A desktop needs a person to be created for.", retryable=False)
        name = user_name(request.user.email)
        existing = self._live(self._by_user(name))
        mine = [w for w in existing if self._seat_of(w) == request.seat_id]
        if mine:
            return self._account(mine[0], request.user.email, request.seat_id)
        if existing:
            raise AdapterError(
                f"The directory user {name} already has a WorkSpace ({existing[0]['WorkspaceId']}) "
                "that does not belong to this seat.",
                retryable=False,
                code="UserHasWorkspace",
            )
        tags = [
            {"Key": SEAT_TAG, "Value": str(request.seat_id)},
            {"Key": CLIENT_TAG, "Value": request.client_ref},
            {"Key": KEY_TAG, "Value": request.idempotency_key},
        ]
        with aws_errors(PLATFORM, "CreateWorkspaces"):
            result = self.client.create_workspaces(
                Workspaces=[
                    {
                        "DirectoryId": self.directory_id,
                        "UserName": name,
                        "BundleId": self.bundle_id,
                        "Tags": tags,
                    }
                ]
            )
        for failed in result.get("FailedRequests", []):
            code = str(failed.get("ErrorCode") or "")
            raise AdapterError(
                f"WorkSpaces CreateWorkspaces: {failed.get('ErrorMessage') or code}",
                retryable=code in _RETRYABLE_FAILURES,
                code=code,
            )
        (pending,) = result["PendingRequests"]
        return self._account(pending, request.user.email, request.seat_id)

    def suspend(self, request: SeatRequest) -> Account:
        return self._set_state(request, "ADMIN_MAINTENANCE")

    def resume(self, request: SeatRequest) -> Account:
        return self._set_state(request, "AVAILABLE")

    def terminate(self, request: SeatRequest) -> None:
        ids = [w["WorkspaceId"] for w in self._mine(request)]
        if not ids:
            return
        with aws_errors(PLATFORM, "TerminateWorkspaces"):
            result = self.client.terminate_workspaces(
                TerminateWorkspaceRequests=[{"WorkspaceId": ws_id} for ws_id in ids]
            )
        # An id that is already gone comes back as a failed request: that is what we wanted.
        still_there = {w["WorkspaceId"] for w in self._live(self._by_ids(ids))}
        problems = [f for f in result.get("FailedRequests", []) if f.get("WorkspaceId") in still_there]
        if problems:
            code = str(problems[0].get("ErrorCode") or "")
            raise AdapterError(
                f"WorkSpaces TerminateWorkspaces: {problems[0].get('ErrorMessage') or code}",
                retryable=True,
                code=code,
            )

    def describe(self, request: SeatRequest) -> Account | None:
        found = self._mine(request)
        return self._account(found[0], request.account_user, request.seat_id) if found else None

    def list_accounts(self) -> list[Account]:
        accounts = []
        paginator = self.client.get_paginator("describe_workspaces")
        with aws_errors(PLATFORM, "DescribeWorkspaces"):
            for page in paginator.paginate(DirectoryId=self.directory_id):
                for workspace in self._live(page["Workspaces"]):
                    accounts.append(self._account(workspace, None, self._seat_of(workspace)))
        return accounts

    # -- true-ups ------------------------------------------------------------------------------------
    def discover(self) -> list[Discovered]:
        """Every live WorkSpace with its tags: the client tag names the client, the user name the person."""
        found = []
        paginator = self.client.get_paginator("describe_workspaces")
        with aws_errors(PLATFORM, "DescribeWorkspaces"):
            for page in paginator.paginate(DirectoryId=self.directory_id):
                for workspace in self._live(page["Workspaces"]):
                    tags = self._tags(workspace)
                    account = self._account(workspace, None, _seat_in(tags))
                    ref = tags.get(CLIENT_TAG)
                    found.append(
                        Discovered(
                            account,
                            {**account_evidence(account), "tags": tags},
                            client_ref=ref,
                            named_by="the WorkSpace's client tag" if ref else None,
                            account_key=account.name.lower(),
                            # The directory user name is all a WorkSpace says about its person.
                            sign_in_name=account.name.lower() or None,
                        )
                    )
        return found

    def account_name(self, email: str) -> str | None:
        return user_name(email)

    def extension_of(self, found: FoundAccount) -> str | None:
        return None

    def removal_problem(self, found: FoundAccount) -> str | None:
        return None

    # -- helpers -------------------------------------------------------------------------------------
    def _set_state(self, request: SeatRequest, state: str) -> Account:
        found = self._mine(request)
        if not found:
            raise AdapterError("This seat's WorkSpace no longer exists.", retryable=False, code="NotFound")
        with aws_errors(PLATFORM, "ModifyWorkspaceState"):
            self.client.modify_workspace_state(WorkspaceId=found[0]["WorkspaceId"], WorkspaceState=state)
        return self._account({**found[0], "State": state}, request.account_user, request.seat_id)

    def _mine(self, request: SeatRequest) -> list[dict[str, Any]]:
        """This seat's live WorkSpaces: by id if known, and by user name (a crash may hide the id)."""
        found: dict[str, dict[str, Any]] = {}
        if request.external_id:
            found.update({w["WorkspaceId"]: w for w in self._by_ids([request.external_id])})
        if request.account_user:
            for workspace in self._by_user(user_name(request.account_user)):
                if self._seat_of(workspace) == request.seat_id:
                    found[workspace["WorkspaceId"]] = workspace
        return self._live(list(found.values()))

    def _by_user(self, name: str) -> list[dict[str, Any]]:
        with aws_errors(PLATFORM, "DescribeWorkspaces"):
            result = self.client.describe_workspaces(DirectoryId=self.directory_id, UserName=name)
        return list(result["Workspaces"])

    def _by_ids(self, ids: list[str]) -> list[dict[str, Any]]:
        with aws_errors(PLATFORM, "DescribeWorkspaces"):
            result = self.client.describe_workspaces(WorkspaceIds=ids)
        return list(result["Workspaces"])

    def _seat_of(self, workspace: dict[str, Any]) -> int | None:
        return _seat_in(self._tags(workspace))

    def _tags(self, workspace: dict[str, Any]) -> dict[str, str]:
        with aws_errors(PLATFORM, "DescribeTags"):
            tags = self.client.describe_tags(ResourceId=workspace["WorkspaceId"])["TagList"]
        return {str(tag["Key"]): str(tag.get("Value") or "") for tag in tags}

    @staticmethod
    def _live(workspaces: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return [w for w in workspaces if w.get("State") not in GONE]

    @staticmethod
    def _account(workspace: dict[str, Any], email: str | None, seat_id: int | None) -> Account:
        return Account(
            external_id=workspace["WorkspaceId"],
            state=_STATES.get(str(workspace.get("State")), AccountState.PENDING),
            user=email,
            name=str(workspace.get("UserName") or ""),
            seat_id=seat_id,
        )
