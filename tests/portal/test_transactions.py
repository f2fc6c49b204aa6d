"""The edge helpers: each kind of edge commits its unit of work, or rolls it back, one way."""

from __future__ import annotations

import click
import pytest
from sqlalchemy import select

from portal.accounts.models import Client
from portal.accounts.services import create_client
from portal.audit.services import Actor
from portal.celery_app import enqueue_after_commit
from portal.db import after_commit, db
from portal.errors import Conflict, InvalidInput
from portal.transactions import cli_command, cli_transaction, task_transaction, web_transaction

TESTS = Actor.system("tests")


def _client_refs() -> list[str]:
    db.session.expire_all()
    return list(db.session.scalars(select(Client.ref).order_by(Client.ref)))


def _add(ref: str) -> None:
    create_client(TESTS, ref, ref.title())


def _add_then_fail(ref: str, error: Exception) -> None:
    _add(ref)
    raise error


def test_web_transaction_commits_on_success(app):
    committed: list[str] = []
    with web_transaction() as attempt:
        _add("alpha")
        after_commit(db.session, lambda: committed.append("alpha"))

    assert attempt.error is None and not attempt.failed
    assert committed == ["alpha"]
    db.session.rollback()  # nothing left to undo: the block was committed
    assert _client_refs() == ["alpha"]


def test_web_transaction_rolls_back_a_service_error_and_hands_it_to_the_view(app):
    committed: list[str] = []
    with web_transaction() as attempt:
        _add("alpha")
        after_commit(db.session, lambda: committed.append("alpha"))
        raise Conflict("no")

    assert isinstance(attempt.error, Conflict) and attempt.failed
    assert committed == []
    assert _client_refs() == []


def test_web_transaction_rolls_back_and_raises_other_errors(app):
    with pytest.raises(RuntimeError), web_transaction():
        _add_then_fail("alpha", RuntimeError("bug"))

    assert _client_refs() == []


def test_web_transaction_renders_only_the_errors_it_is_given(app):
    with pytest.raises(InvalidInput), web_transaction(renders=(Conflict,)):
        _add_then_fail("alpha", InvalidInput("bad"))

    assert _client_refs() == []


def test_task_transaction_commits_or_rolls_back_and_reraises(app):
    with task_transaction():
        _add("alpha")
    with pytest.raises(Conflict), task_transaction():
        _add_then_fail("beta", Conflict("no"))

    assert _client_refs() == ["alpha"]


def test_task_transaction_as_a_decorator(app):
    @task_transaction()
    def work(ref: str) -> str:
        _add(ref)
        return ref

    assert work("alpha") == "alpha"
    assert work("beta") == "beta"
    assert _client_refs() == ["alpha", "beta"]


def test_cli_transaction_turns_a_service_error_into_a_plain_message(app):
    with pytest.raises(click.ClickException) as raised, cli_transaction():
        _add_then_fail("alpha", InvalidInput("Bad month.", fields={"period": "Write it as YYYY-MM."}))

    assert raised.value.message == "Bad month.\n  period: Write it as YYYY-MM."
    assert _client_refs() == []


def test_cli_command_commits_the_command(app):
    @cli_command
    def command(ref: str) -> None:
        _add(ref)

    command("alpha")

    db.session.rollback()
    assert _client_refs() == ["alpha"]


# --- enqueue_after_commit ------------------------------------------------------------------------


@pytest.fixture
def sent(app, monkeypatch):
    messages: list[tuple[str, list[object], dict[str, object]]] = []

    def send_task(name: str, args: list[object], **options: object) -> None:
        messages.append((name, args, options))

    monkeypatch.setattr(app.extensions["celery"], "send_task", send_task)
    return messages


def test_a_job_is_sent_only_after_the_commit(sent):
    with web_transaction():
        enqueue_after_commit("provisioning.reconcile_seat", 7, queue="provisioning")
        assert sent == []  # not before the commit

    # Sent once, without publish retries: a request never waits on a broker that is down.
    assert sent == [("provisioning.reconcile_seat", [7], {"retry": False, "queue": "provisioning"})]


def test_a_job_is_never_sent_after_a_rollback(sent):
    with web_transaction() as attempt:
        enqueue_after_commit("trueup.run")
        raise Conflict("no")
    db.session.commit()

    assert attempt.failed
    assert sent == []


def test_a_task_object_is_sent_by_its_name_through_the_apps_own_celery(app, sent):
    from metering.billing.tasks import push_invoice

    with task_transaction():
        enqueue_after_commit(push_invoice, 12)

    assert sent == [("metering.push_invoice", [12], {"retry": False})]


def test_a_broker_failure_is_logged_not_raised(app, monkeypatch, caplog):
    def broker_down(name: str, **options: object) -> None:
        raise ConnectionError("broker unreachable")

    monkeypatch.setattr(app.extensions["celery"], "send_task", broker_down)
    with caplog.at_level("WARNING", logger="seatmeter.celery"), web_transaction() as attempt:
        _add("alpha")
        enqueue_after_commit("provisioning.reconcile_seat", 7)

    assert not attempt.failed
    assert _client_refs() == ["alpha"]  # the data stays committed
    assert "could not queue provisioning.reconcile_seat(7,)" in caplog.text
    assert "broker unreachable" in caplog.text
