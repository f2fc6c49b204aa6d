"""`make run` (``python -m sandbox.run``): the sandbox brings every demo seat to active, a softphone
registers on the sandbox Kamailio, the true-up has something to show, and Ctrl-C leaves nothing behind.

The browser test of every page (tests/browser/test_demo_pages.py) uses the same session's run; the
Ctrl-C test here ends it, so it is the last test of this module.
"""

from __future__ import annotations

import time
from collections import Counter

import pytest
from sqlalchemy import create_engine, text

from portal.demo.services import HAND_MADE_DESKTOP, LEFTOVER_MAILBOX, demo_seat_count
from sandbox.kamailio import missing_requirements
from tests.sandbox.demo_run import DemoRun

pytestmark = pytest.mark.slow


def _rows(run: DemoRun, sql: str) -> list[tuple[object, ...]]:
    engine = create_engine(run.database_url)
    try:
        with engine.connect() as connection:
            return [tuple(row) for row in connection.execute(text(sql))]
    finally:
        engine.dispose()


def test_start_up_is_quiet_and_names_the_address_and_logins(demo_run: DemoRun) -> None:
    lines = demo_run.output().splitlines()
    assert lines[0].startswith(f"Seatmeter is running at {demo_run.url}")
    assert "login page ready in" in lines[0]
    assert any(line.startswith("Sandbox platforms on 127.0.0.1") for line in lines)
    assert any("admin@northwind-it.example" in line for line in lines)
    # No banners, tracebacks or warnings: those go to the log files.
    noisy = ("WARNING", "Traceback", "celery@", "INFO")
    noise = [line for line in lines if any(word in line for word in noisy)]
    assert noise == []


def test_every_demo_seat_becomes_active_but_the_one_that_fails_on_purpose(demo_run: DemoRun) -> None:
    wanted = _rows(
        demo_run,
        "SELECT s.state, u.email, s.last_error FROM seats s LEFT JOIN end_users u ON u.id = s.end_user_id "
        "WHERE s.desired_state != 'terminated'",
    )
    assert len(wanted) == demo_seat_count()
    assert Counter(state for state, _email, _error in wanted) == {"active": len(wanted) - 1, "failed": 1}
    ((_, email, error),) = [row for row in wanted if row[0] == "failed"]
    assert email == f"{HAND_MADE_DESKTOP}@brightsmile.example"
    assert f"The directory user {HAND_MADE_DESKTOP} already has a WorkSpace" in str(error)
    assert f"Demo seats: {len(wanted) - 1} of {len(wanted)} active" in demo_run.output()


def test_a_softphone_registers_with_a_demo_voip_seat(demo_run: DemoRun) -> None:
    missing = missing_requirements()
    if missing is not None:
        assert "Kamailio is not installed" in demo_run.output()
        pytest.skip(missing)
    deadline = time.monotonic() + 30
    while "A sandbox softphone registered as" not in demo_run.output():
        assert time.monotonic() < deadline, demo_run.output()
        time.sleep(0.2)


def test_the_true_up_finds_the_mailbox_left_behind(demo_run: DemoRun) -> None:
    deadline = time.monotonic() + 60
    while True:
        findings = _rows(demo_run, "SELECT kind, platform, summary FROM trueup_findings")
        if findings or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    assert [(kind, platform) for kind, platform, _ in findings] == [("unbilled", "workmail")], demo_run.logs()
    assert LEFTOVER_MAILBOX[1] in str(findings[0][2])


def test_ctrl_c_exits_0_and_leaves_no_process(demo_run: DemoRun) -> None:
    status, leftovers = demo_run.interrupt()
    assert status == 0, demo_run.output()
    assert leftovers == []
