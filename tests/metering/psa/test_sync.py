"""The PSA sync against the ConnectWise stand-in: after October is finalized, each client's agreement
additions hold October's billed quantities; a re-run changes nothing; a 429 is retried; a change made
in the PSA is a conflict that is shown and not overwritten; a worker killed mid-sync leaves nothing
that the next run cannot finish without duplicates."""

from __future__ import annotations

import pytest

from metering.psa import mapping, services, tasks
from metering.psa.models import PsaSyncState
from metering.psa.services import sync_again
from metering.psa.tasks import sweep, sync_month_now
from portal.catalog.services import get_product
from portal.db import db
from tests.metering.months import TESTS, event
from tests.metering.psa.conftest import acme_desktop_edited_in_the_psa, map_all

OCTOBER_EXPECTED = {
    ("acme", "DESKTOP"): 2,
    ("acme", "MAILBOX"): 1,
    ("bright", "DESKTOP"): 1,
    ("bright", "MAILBOX"): 3,
    ("cedar", "DESKTOP"): 4,
}


def _expected(psa, by_ref):
    return {(psa.agreements[ref], item): quantity for (ref, item), quantity in by_ref.items()}


def test_additions_hold_the_months_billed_quantities_for_three_clients(psa):
    map_all(psa)
    psa.play_october()

    psa.sync("2026-10")

    assert psa.quantities() == _expected(psa, OCTOBER_EXPECTED)
    records = psa.records("2026-10")
    assert {key: state for key, (state, _q, _r) in records.items()} == dict.fromkeys(records, "done")
    assert records[("bright", "exchange")][1] == 3


def test_a_second_run_changes_nothing(psa):
    map_all(psa)
    psa.play_october()
    psa.sync("2026-10")
    before, calls = psa.server.additions(), psa.server.calls()

    psa.month.finalize("2026-10")  # finalizing again records nothing new
    for row_id in range(1, 50):  # and "sync again" of a done record does nothing either
        try:
            sync_again(TESTS, row_id)
        except services.NotFound:
            break
    db.session.commit()
    psa.sync("2026-10")

    assert psa.server.additions() == before
    after = psa.server.calls()
    assert (after.get("POST", 0), after.get("PATCH", 0)) == (calls.get("POST", 0), calls.get("PATCH", 0))


def test_a_429_is_retried_and_the_sync_completes(psa):
    map_all(psa)
    psa.play_october()
    psa.server.fail_next("POST", status=429, count=2, retry_after=0)

    psa.sync("2026-10")

    assert psa.server.calls()["429"] == 2
    assert psa.quantities() == _expected(psa, OCTOBER_EXPECTED)


def test_a_quantity_changed_in_the_psa_is_a_conflict_and_not_overwritten(psa, travel):
    acme_desktop_edited_in_the_psa(psa)  # a dispatcher edits the agreement by hand
    # November: bob's desktop stopped in October, so acme bills 1 desktop.
    psa.month.events(event("bob-stop", "acme", "bob@acme.example", "desktop", "stop", "2026-10-25T09:00:00Z"))
    travel("2026-12-02T12:00:00Z")
    psa.month.close("2026-11")
    psa.month.finalize("2026-11")

    psa.sync("2026-11")

    state, quantity, reason = psa.records("2026-11")[("acme", "desktop")]
    assert (state, quantity) == ("conflict", 1)
    assert reason is not None and "changed in ConnectWise PSA to 5" in reason and "set it to 2" in reason
    assert psa.quantities()[(psa.agreements["acme"], "DESKTOP")] == 5
    # The others went through: bright still bills 3 mailboxes.
    assert psa.records("2026-11")[("bright", "exchange")][0] == "done"


def test_the_reseller_may_overwrite_a_conflict(psa, travel):
    acme_desktop_edited_in_the_psa(psa)
    travel("2026-12-02T12:00:00Z")
    psa.month.close("2026-11")
    psa.month.finalize("2026-11")
    psa.sync("2026-11")
    conflict = next(
        row
        for row in services.sync_records()
        if row.state is PsaSyncState.CONFLICT and row.period == "2026-11"
    )

    sync_again(TESTS, conflict.id, overwrite=True)
    db.session.commit()
    psa.sync("2026-11")

    assert psa.records("2026-11")[("acme", "desktop")][0] == "done"
    assert psa.quantities()[(psa.agreements["acme"], "DESKTOP")] == 2


def test_an_unmapped_client_fails_with_its_reason_and_syncs_once_mapped(psa):
    map_all(psa, skip=("bright",))
    psa.play_october()

    psa.sync("2026-10")

    state, _quantity, reason = psa.records("2026-10")[("bright", "exchange")]
    assert state == "failed" and reason is not None and "Bright Ltd is not mapped" in reason
    map_all(psa)
    for row in services.sync_records():
        if row.state is PsaSyncState.FAILED:
            sync_again(TESTS, row.id)
    db.session.commit()
    psa.sync("2026-10")
    assert psa.quantities() == _expected(psa, OCTOBER_EXPECTED)


class WorkerKilled(BaseException):
    """What a SIGKILL looks like from inside: nothing after this point runs, nothing is committed."""


def _kill_once_before_recording(monkeypatch) -> None:
    real_record = tasks.record_outcome
    kills = {"left": 1}

    def killed_before_recording(plan, outcome, now):
        # The PSA has already created or patched the addition; the record is never written.
        if kills["left"] > 0:
            kills["left"] -= 1
            raise WorkerKilled
        return real_record(plan, outcome, now)

    monkeypatch.setattr(tasks, "record_outcome", killed_before_recording)


def test_a_worker_killed_after_the_psa_created_an_addition_leaves_no_duplicate(psa, monkeypatch, travel):
    map_all(psa)
    psa.play_october()
    _kill_once_before_recording(monkeypatch)
    with pytest.raises(WorkerKilled):
        sync_month_now(psa.clients["acme"].id, "2026-10")
    assert psa.records("2026-10")[("acme", "desktop")][0] == "pending"
    assert len(psa.server.additions()) == 1  # written in the PSA, not recorded here
    psa.sync("2026-10")  # the message delivered again at once: the dead worker's lease still holds
    assert psa.records("2026-10")[("acme", "desktop")][0] == "pending"

    travel("2026-11-02T12:10:00Z")  # the lease is over
    psa.sync("2026-10")

    assert psa.quantities() == _expected(psa, OCTOBER_EXPECTED)  # no addition twice
    assert psa.server.calls()["POST"] == len(OCTOBER_EXPECTED)
    assert set(state for state, _q, _r in psa.records("2026-10").values()) == {"done"}


def test_a_worker_killed_after_the_psa_took_a_new_quantity_is_no_conflict(psa, travel, monkeypatch):
    map_all(psa)
    psa.play_october()
    psa.sync("2026-10")
    psa.month.events(event("bob-stop", "acme", "bob@acme.example", "desktop", "stop", "2026-10-25T09:00:00Z"))
    travel("2026-12-02T12:00:00Z")
    psa.month.close("2026-11")
    psa.month.finalize("2026-11")
    _kill_once_before_recording(monkeypatch)
    with pytest.raises(WorkerKilled):
        sync_month_now(psa.clients["acme"].id, "2026-11")
    assert psa.quantities()[(psa.agreements["acme"], "DESKTOP")] == 1  # patched, not recorded

    travel("2026-12-02T12:10:00Z")
    psa.sync("2026-11")

    # The PSA holds what Seatmeter meant to write: that is the write completing, not a change by hand.
    assert psa.records("2026-11")[("acme", "desktop")][:2] == ("done", 1)
    assert psa.quantities()[(psa.agreements["acme"], "DESKTOP")] == 1


def test_a_psa_failing_on_every_attempt_ends_failed_with_its_reason(psa):
    map_all(psa)
    psa.play_october()
    psa.server.fail_next("POST", status=503, count=1000)

    psa.sync("2026-10")

    state, _quantity, reason = psa.records("2026-10")[("acme", "desktop")]
    assert state == "failed"
    assert reason is not None and "503" in reason and "gave up after" in reason
    assert psa.server.additions() == []


def test_the_sweep_requeues_a_month_whose_message_was_lost(psa, travel):
    map_all(psa)
    psa.play_october()  # its job went to a broker nobody reads here: the records wait
    assert sweep.apply().get() == {"queued": 0}  # not stale yet

    travel("2026-11-02T12:30:00Z")

    assert sweep.apply().get() == {"queued": 3}


def test_a_product_not_billed_through_the_psa_records_nothing(psa):
    map_all(psa)
    mapping.link_product(TESTS, get_product("exchange"), None)
    db.session.commit()
    psa.play_october()

    psa.sync("2026-10")

    assert {product for _client, product in psa.records("2026-10")} == {"desktop"}
    assert {item for _agreement, item in psa.quantities()} == {"DESKTOP"}


def test_a_month_finalized_before_the_psa_was_set_up_is_sent_from_the_command_line(psa, app, runner):
    settings = {name: app.config[name] for name in psa.server.settings()}
    app.config["CONNECTWISE_URL"] = None
    map_all(psa)
    psa.play_october()  # finalized with no PSA configured: nothing recorded
    assert psa.records("2026-10") == {}
    app.config.update(settings)

    first = runner.invoke(args=["psa", "send", "2026-10"])
    again = runner.invoke(args=["psa", "send", "2026-10"])
    psa.sync("2026-10")

    assert first.exit_code == 0 and "3 finalized invoices, 5 new PSA records queued" in first.output
    assert "0 new PSA records" in again.output
    assert psa.quantities() == _expected(psa, OCTOBER_EXPECTED)


def test_the_command_line_says_what_is_missing(app, runner):
    app.config["CONNECTWISE_URL"] = None

    result = runner.invoke(args=["psa", "send", "2026-10"])

    assert result.exit_code != 0 and "CONNECTWISE_URL" in result.output
