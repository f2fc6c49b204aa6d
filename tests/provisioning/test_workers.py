"""Provisioning with a real Celery worker process, a real broker and the platform stand-ins.

moto_server (WorkSpaces), the WorkMail stand-in and a real Kamailio registrar run as processes on
127.0.0.1; the worker reaches them through boto3 and SQL exactly as it would reach AWS and the colo.
"""

from __future__ import annotations

import secrets
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import boto3
import pytest
from flask import Flask
from sqlalchemy import func, select

from metering.ledger.models import LedgerInterval
from portal.accounts.end_user_services import add_end_user
from portal.accounts.models import Client, EndUser
from portal.accounts.services import create_client
from portal.audit.services import Actor
from portal.catalog.services import get_product, seed_catalog
from portal.db import db
from portal.orders.models import Seat, SeatState
from provisioning import (
    cancel_seat,
    place_order,
    reset_sip_password,
    resume_client,
    retry_seat,
    suspend_client,
)
from provisioning.models import AttemptOutcome, ProvisioningAttempt
from provisioning.services import has_secret, reveal_seat_secret
from sandbox import sip_client
from tests.provisioning.workers import (
    Worker,
    committed,
    migrated_database,
    producer_app,
    settings_env,
    wait_until,
)
from tests.standins.aws import (
    DUMMY_KEY_ID,
    DUMMY_SECRET,
    REGION,
    inject_workmail_fault,
    make_workspaces_directory,
    workmail_call_counts,
)
from tests.standins.kamailio import find_binary, sipp_register

pytestmark = pytest.mark.slow

ACTOR = Actor.system("tests")
SIP_DOMAIN = "seats.test"


@dataclass
class Stack:
    app: Flask
    worker: Worker
    workspaces: Any  # boto3 client
    workmail: Any
    workmail_server: Any
    kamailio: Any
    directory_id: str

    def seats(self, *ids: int) -> list[Seat]:
        with self.app.app_context():
            query = select(Seat).order_by(Seat.id)
            if ids:
                query = query.where(Seat.id.in_(ids))
            seats = list(db.session.scalars(query))
            for seat in seats:
                db.session.expunge(seat)
            return seats

    def states(self, ids: list[int]) -> Counter[str]:
        return Counter(seat.state.value for seat in self.seats(*ids))

    def wait_for(self, ids: list[int], state: SeatState, timeout: float = 45) -> None:
        wait_until(
            lambda: self.states(ids) == Counter({state.value: len(ids)}),
            timeout,
            f"seats {ids} to be {state.value} (now {dict(self.states(ids))})",
            self.worker,
        )

    def attempts(self, seat_id: int) -> list[tuple[str, str]]:
        with self.app.app_context():
            rows = db.session.scalars(
                select(ProvisioningAttempt)
                .where(ProvisioningAttempt.seat_id == seat_id)
                .order_by(ProvisioningAttempt.id)
            )
            return [(row.action, row.outcome.value) for row in rows]


@pytest.fixture(scope="module")
def stack(scratch_databases, moto_server, workmail_server, kamailio, tmp_path_factory):
    workdir = tmp_path_factory.mktemp("provisioning-workers")
    database_url = migrated_database(scratch_databases, "provisioning_workers")
    directory_id = make_workspaces_directory(moto_server.endpoint_url)
    env = settings_env(
        database_url,
        workdir,
        moto_url=moto_server.endpoint_url,
        directory_id=directory_id,
        workmail_url=workmail_server.endpoint_url,
        organization_id=workmail_server.organization_id,
        mail_domain=workmail_server.mail_domain,
        kamailio_db_url=kamailio.db_url,
        sip_domain=SIP_DOMAIN,
        queue=f"seatmeter-test-{secrets.token_hex(4)}",
    )
    app = producer_app(env, workdir / "instance")
    committed(app, lambda: seed_catalog(ACTOR))
    kwargs = {
        "region_name": REGION,
        "aws_access_key_id": DUMMY_KEY_ID,
        "aws_secret_access_key": DUMMY_SECRET,
    }
    worker = Worker(env, workdir)
    worker.start()
    try:
        yield Stack(
            app=app,
            worker=worker,
            workspaces=boto3.client("workspaces", endpoint_url=moto_server.endpoint_url, **kwargs),
            workmail=boto3.client("workmail", endpoint_url=workmail_server.endpoint_url, **kwargs),
            workmail_server=workmail_server,
            kamailio=kamailio,
            directory_id=directory_id,
        )
    finally:
        worker.stop()
        app.extensions["seatmeter.db"].engine.dispose()


@dataclass(frozen=True)
class Person:
    id: int
    email: str


def new_client(stack: Stack, people: int) -> tuple[int, list[Person]]:
    """A client with ``people`` end users; plain ids, usable in any later transaction."""
    ref = f"c{secrets.token_hex(4)}"

    def work() -> tuple[int, list[Person]]:
        client = create_client(ACTOR, ref, ref.upper())
        users = [
            add_end_user(ACTOR, client, f"Person {i}", f"p{i}.{ref}@{ref}.example") for i in range(people)
        ]
        db.session.flush()
        return client.id, [Person(user.id, user.email) for user in users]

    return committed(stack.app, work)


def order(stack: Stack, client_id: int, product: str, people: list[Person]) -> list[int]:
    def work() -> list[int]:
        users = [db.session.get_one(EndUser, person.id) for person in people]
        placed = place_order(
            ACTOR, db.session.get_one(Client, client_id), get_product(product), len(users), users
        )
        return [seat.id for seat in placed.seats]

    return committed(stack.app, work)


def on_seat(stack: Stack, seat_id: int, operation: Callable[[Seat], object]) -> object:
    return committed(stack.app, lambda: operation(db.session.get_one(Seat, seat_id)))


def on_client(stack: Stack, client_id: int, operation: Callable[[Client], object]) -> object:
    return committed(stack.app, lambda: operation(db.session.get_one(Client, client_id)))


def workspaces_of(stack: Stack, user_name: str) -> list[dict]:
    return stack.workspaces.describe_workspaces(DirectoryId=stack.directory_id, UserName=user_name)[
        "Workspaces"
    ]


def voip_login(stack: Stack, seat_id: int) -> tuple[str, str]:
    seat = stack.seats(seat_id)[0]
    assert seat.external_id is not None
    username, domain = seat.external_id.split("@")
    return username, domain


def register(stack: Stack, username: str, domain: str, password: str) -> int:
    return sip_client.register(stack.kamailio.host, stack.kamailio.port, username, domain, password)


def test_twenty_seats_across_three_products_reach_active(stack):
    client, people = new_client(stack, 8)
    desktops = order(stack, client, "desktop", people[:7])
    mailboxes = order(stack, client, "exchange", people[:7])
    phones = order(stack, client, "voip", people[:6])
    every = desktops + mailboxes + phones
    assert len(every) == 20

    stack.wait_for(every, SeatState.ACTIVE)

    for person in people[:7]:
        assert len(workspaces_of(stack, person.email.split("@")[0])) == 1
    names = {
        u["Name"]
        for u in stack.workmail.list_users(OrganizationId=stack.workmail_server.organization_id)["Users"]
    }
    assert {p.email for p in people[:7]} <= names
    with stack.app.app_context():
        open_intervals = db.session.scalar(
            select(func.count())
            .select_from(LedgerInterval)
            .where(LedgerInterval.seat_id.in_(every), LedgerInterval.stop_at.is_(None))
        )
    assert open_intervals == 20  # every seat is active and assigned: every one grants its product
    password = on_seat(stack, phones[0], lambda seat: reveal_seat_secret(ACTOR, seat))
    assert password
    assert on_seat(stack, phones[0], lambda seat: reveal_seat_secret(ACTOR, seat)) is None  # shown once
    assert register(stack, *voip_login(stack, phones[0]), password) == 200


def test_throttling_is_retried_by_the_engine_until_it_succeeds(stack):
    client, people = new_client(stack, 1)
    inject_workmail_fault(stack.workmail_server, "CreateUser", "ThrottlingException", status=400, count=2)
    before = workmail_call_counts(stack.workmail_server).get("CreateUser", 0)

    (seat_id,) = order(stack, client, "exchange", people)
    stack.wait_for([seat_id], SeatState.ACTIVE)

    assert stack.attempts(seat_id) == [
        ("create", "retrying"),
        ("create", "retrying"),
        ("create", "succeeded"),
    ]
    # botocore made one request per attempt: the retries were the engine's, with backoff.
    assert workmail_call_counts(stack.workmail_server)["CreateUser"] - before == 3


def test_permanent_error_goes_to_the_failed_queue_and_can_be_retried(stack):
    client, people = new_client(stack, 1)
    inject_workmail_fault(
        stack.workmail_server, "RegisterToWorkMail", "MailDomainNotFoundException", status=400, count=1
    )
    (seat_id,) = order(stack, client, "exchange", people)
    stack.wait_for([seat_id], SeatState.FAILED)
    (seat,) = stack.seats(seat_id)
    assert "Injected fault" in seat.last_error
    assert stack.attempts(seat_id)[-1] == ("create", "failed")

    on_seat(stack, seat_id, lambda seat: retry_seat(ACTOR, seat))
    stack.wait_for([seat_id], SeatState.ACTIVE)
    assert stack.attempts(seat_id)[-1] == ("create", "succeeded")


def test_voip_seat_registers_only_while_active(stack, tmp_path):
    client, people = new_client(stack, 1)
    (seat_id,) = order(stack, client, "voip", people)
    stack.wait_for([seat_id], SeatState.ACTIVE)
    password = on_seat(stack, seat_id, lambda seat: reveal_seat_secret(ACTOR, seat))
    username, domain = voip_login(stack, seat_id)
    assert register(stack, username, domain, password) == 200
    if find_binary("sipp"):
        assert sipp_register(
            stack.kamailio.host, stack.kamailio.port, username, domain, password, workdir=tmp_path
        )

    on_client(stack, client, lambda c: suspend_client(ACTOR, c, "unpaid invoice"))
    stack.wait_for([seat_id], SeatState.SUSPENDED)
    assert register(stack, username, domain, password) == 401

    on_client(stack, client, lambda c: resume_client(ACTOR, c))
    stack.wait_for([seat_id], SeatState.ACTIVE)
    assert register(stack, username, domain, password) == 200  # the same password as before

    on_seat(stack, seat_id, lambda seat: cancel_seat(ACTOR, seat))
    stack.wait_for([seat_id], SeatState.TERMINATED)
    assert register(stack, username, domain, password) == 401


def test_a_reset_phone_password_replaces_the_old_one_at_the_registrar(stack):
    client, people = new_client(stack, 1)
    (seat_id,) = order(stack, client, "voip", people)
    stack.wait_for([seat_id], SeatState.ACTIVE)
    old_password = on_seat(stack, seat_id, lambda seat: reveal_seat_secret(ACTOR, seat))
    username, domain = voip_login(stack, seat_id)
    assert register(stack, username, domain, old_password) == 200

    on_seat(stack, seat_id, lambda seat: reset_sip_password(ACTOR, seat))
    wait_until(
        lambda: bool(on_seat(stack, seat_id, has_secret)),
        45,
        f"seat {seat_id}'s new password to be set",
        stack.worker,
    )
    new_password = on_seat(stack, seat_id, lambda seat: reveal_seat_secret(ACTOR, seat))

    assert isinstance(new_password, str) and new_password != old_password
    assert register(stack, username, domain, old_password) == 401
    assert register(stack, username, domain, new_password) == 200
    assert stack.seats(seat_id)[0].state is SeatState.ACTIVE
    assert stack.attempts(seat_id)[-1] == ("reset_password", "succeeded")


@pytest.mark.faults
def test_sigkill_mid_provisioning_heals_without_duplicates(stack):
    client, people = new_client(stack, 12)
    ids = order(stack, client, "desktop", people) + order(stack, client, "exchange", people)

    def something_in_flight() -> bool:
        with stack.app.app_context():
            running = db.session.scalar(
                select(func.count())
                .select_from(ProvisioningAttempt)
                .where(
                    ProvisioningAttempt.seat_id.in_(ids),
                    ProvisioningAttempt.outcome == AttemptOutcome.RUNNING,
                )
            )
        return bool(running)

    wait_until(something_in_flight, 30, "a provisioning call in flight", stack.worker)
    stack.worker.kill()
    stuck = [s.id for s in stack.seats(*ids) if s.state is not SeatState.ACTIVE]
    assert stuck, "the worker finished everything before it was killed"

    stack.worker.start()  # a fresh worker with beat: the sweep finds what the dead one left
    stack.wait_for(ids, SeatState.ACTIVE, timeout=60)

    for person in people:
        assert len(workspaces_of(stack, person.email.split("@")[0])) == 1
    users = stack.workmail.list_users(OrganizationId=stack.workmail_server.organization_id)["Users"]
    names = Counter(u["Name"] for u in users if u["State"] != "DELETED")
    assert all(names[p.email] == 1 for p in people)
    with stack.app.app_context():
        running = db.session.scalar(
            select(func.count())
            .select_from(ProvisioningAttempt)
            .where(
                ProvisioningAttempt.seat_id.in_(ids), ProvisioningAttempt.outcome == AttemptOutcome.RUNNING
            )
        )
    assert running == 0
