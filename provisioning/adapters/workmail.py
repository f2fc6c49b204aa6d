"""Exchange mailboxes on Amazon WorkMail: one WorkMail user per seat, registered with a mailbox.

The WorkMail user name is the person's e-mail address (unique, and the same on every retry, so a
repeated create finds the user it made instead of making a second). The mailbox address is that
e-mail, or ``<local part>@WORKMAIL_MAIL_DOMAIN`` when the organization's own domain is configured.
WorkMail users sign in with the password the client admin sets in WorkMail (or their directory's).

Suspension deregisters the user (WorkMail's "disable": sign-in stops; WorkMail keeps the mailbox
for 30 days, so a suspension must be resolved, or the seat cancelled, within that time);
resumption registers the same address again. Removal deregisters, then deletes the user (WorkMail
refuses to delete a registered user). A mailbox cannot change hands: reassignment removes it and
creates the new person's.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from botocore.exceptions import ClientError

from provisioning.adapters.aws import aws_errors, error_code, make_client
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

PLATFORM = "WorkMail"
_STATES = {"ENABLED": AccountState.ENABLED, "DISABLED": AccountState.DISABLED}


def workmail_name(email: str) -> str:
    """WorkMail's UserName pattern allows word characters, '-', '.' and one '@domain'."""
    local, _, domain = email.strip().lower().partition("@")
    safe_local = re.sub(r"[^\w.-]", "-", local)
    return f"{safe_local}@{domain}"[:64]


def _person(account: Account) -> str | None:
    # The WorkMail name is the person's e-mail (see workmail_name); the mailbox address may be the
    # organization's domain instead, so it only counts when the name is not an address.
    if "@" in account.name:
        return account.name.lower()
    return account.user.lower() if account.user and "@" in account.user else None


class WorkMailAdapter(ReplacedOnReassign):
    name = "workmail"

    def __init__(
        self, organization_id: str, mail_domain: str | None, endpoint_url: str | None, region: str
    ) -> None:
        self.organization_id = organization_id
        self.mail_domain = mail_domain
        self.client = make_client("workmail", endpoint_url, region)

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> WorkMailAdapter:
        if not config.get("WORKMAIL_ORGANIZATION_ID"):
            raise NotConfigured(
                "Mailboxes are not configured on this installation yet: the reseller has to set "
                "WORKMAIL_ORGANIZATION_ID."
            )
        return cls(
            config["WORKMAIL_ORGANIZATION_ID"],
            config.get("WORKMAIL_MAIL_DOMAIN"),
            config.get("WORKMAIL_ENDPOINT_URL") or config.get("AWS_ENDPOINT_URL"),
            config.get("AWS_REGION") or "us-east-1",
        )

    def address(self, email: str) -> str:
        email = email.strip().lower()
        return f"{email.split('@', 1)[0]}@{self.mail_domain}" if self.mail_domain else email

    # -- the Adapter protocol ------------------------------------------------------------------------
    def create(self, request: SeatRequest) -> Account:
        if request.user is None:
            raise AdapterError("A mailbox needs a person to be created for.", retryable=False)
        name = workmail_name(request.user.email)
        user = self._find(name)
        if user is None:
            with aws_errors(PLATFORM, "CreateUser"):
                try:
                    self.client.create_user(
                        OrganizationId=self.organization_id, Name=name, DisplayName=request.user.display_name
                    )
                except ClientError as error:
                    # Made by an earlier attempt whose answer was lost: found below.
                    if error_code(error) != "NameAvailabilityException":
                        raise
            user = self._find(name)
            if user is None:
                raise AdapterError(
                    f"WorkMail user {name} vanished right after it was created.", retryable=True
                )
        if user["State"] != "ENABLED":
            self._register(user["UserId"], self.address(request.user.email))
            user = {**user, "State": "ENABLED"}
        return self._account(user, request.user.email, request.seat_id)

    def suspend(self, request: SeatRequest) -> Account:
        user = self._require(request)
        if user["State"] == "ENABLED":
            with aws_errors(PLATFORM, "DeregisterFromWorkMail"):
                try:
                    self.client.deregister_from_work_mail(
                        OrganizationId=self.organization_id, EntityId=user["UserId"]
                    )
                except ClientError as error:
                    if error_code(error) != "EntityStateException":  # already deregistered
                        raise
        return self._account({**user, "State": "DISABLED"}, request.account_user, request.seat_id)

    def resume(self, request: SeatRequest) -> Account:
        user = self._require(request)
        if user["State"] != "ENABLED":
            self._register(user["UserId"], self.address(request.account_user or user["Name"]))
        return self._account({**user, "State": "ENABLED"}, request.account_user, request.seat_id)

    def terminate(self, request: SeatRequest) -> None:
        user = self._of(request)
        if user is None:
            return
        with aws_errors(PLATFORM, "DeregisterFromWorkMail"):
            if user["State"] == "ENABLED":
                try:
                    self.client.deregister_from_work_mail(
                        OrganizationId=self.organization_id, EntityId=user["UserId"]
                    )
                except ClientError as error:
                    if error_code(error) != "EntityStateException":
                        raise
        with aws_errors(PLATFORM, "DeleteUser"):
            try:
                self.client.delete_user(OrganizationId=self.organization_id, UserId=user["UserId"])
            except ClientError as error:
                if error_code(error) not in ("EntityNotFoundException",):
                    raise

    def describe(self, request: SeatRequest) -> Account | None:
        user = self._of(request)
        return self._account(user, request.account_user, request.seat_id) if user else None

    def list_accounts(self) -> list[Account]:
        accounts = []
        with aws_errors(PLATFORM, "ListUsers"):
            for page in self.client.get_paginator("list_users").paginate(OrganizationId=self.organization_id):
                for user in page["Users"]:
                    if user.get("State") in _STATES and user.get("UserRole", "USER") == "USER":
                        accounts.append(
                            self._account({**user, "UserId": user["Id"]}, user.get("Email"), None)
                        )
        return accounts

    # -- true-ups ------------------------------------------------------------------------------------
    def discover(self) -> list[Discovered]:
        """Every mailbox user; nothing in WorkMail names a client (its people map by their e-mail)."""
        return [
            Discovered(
                account,
                account_evidence(account),
                person=_person(account),
                account_key=account.name.lower(),
            )
            for account in self.list_accounts()
        ]

    def account_name(self, email: str) -> str | None:
        return workmail_name(email)

    def extension_of(self, found: FoundAccount) -> str | None:
        return None

    def removal_problem(self, found: FoundAccount) -> str | None:
        return None

    # -- helpers -------------------------------------------------------------------------------------
    def _register(self, user_id: str, email: str) -> None:
        with aws_errors(PLATFORM, "RegisterToWorkMail"):
            try:
                self.client.register_to_work_mail(
                    OrganizationId=self.organization_id, EntityId=user_id, Email=email
                )
            except ClientError as error:
                if error_code(error) != "EntityAlreadyRegisteredException":
                    raise

    def _of(self, request: SeatRequest) -> dict[str, Any] | None:
        """The seat's live WorkMail user: by id if known, else by name (a crash may hide the id)."""
        if request.external_id:
            user = self._find(request.external_id)
            if user is not None:
                return user
        return self._find(workmail_name(request.account_user)) if request.account_user else None

    def _require(self, request: SeatRequest) -> dict[str, Any]:
        user = self._of(request)
        if user is None:
            raise AdapterError(
                "This seat's WorkMail user no longer exists.", retryable=False, code="NotFound"
            )
        return user

    def _find(self, identifier: str) -> dict[str, Any] | None:
        with aws_errors(PLATFORM, "DescribeUser"):
            try:
                user = self.client.describe_user(OrganizationId=self.organization_id, UserId=identifier)
            except ClientError as error:
                if error_code(error) == "EntityNotFoundException":
                    return None
                raise
        return None if user.get("State") == "DELETED" else dict(user)

    @staticmethod
    def _account(user: dict[str, Any], email: str | None, seat_id: int | None) -> Account:
        return Account(
            external_id=str(user["UserId"]),
            state=_STATES.get(str(user.get("State")), AccountState.DISABLED),
            user=email,
            name=str(user.get("Name") or ""),
            seat_id=seat_id,
        )
