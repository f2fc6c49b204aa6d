"""Celery beat: it starts on a fresh clone, and on Redis a second beat stands by instead of firing."""

from __future__ import annotations

import json
import os
import secrets
import shutil
import socket
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import pytest
from celery import beat
from redis import Redis

from portal import create_app
from portal.celery_app import InstanceScheduler
from tests.conftest import TEST_SECRET_KEY
from tests.standins.ports import LOOPBACK, free_port, wait_for_port

ROOT = Path(__file__).resolve().parents[2]


def test_beat_opens_its_schedule_where_no_instance_directory_exists_yet(tmp_path):
    instance = tmp_path / "fresh-clone" / "instance"
    # With SECRET_KEY set nothing else creates instance/: the state of a fresh clone in production.
    app = create_app(
        {
            "INSTANCE_PATH": str(instance),
            "SECRET_KEY": TEST_SECRET_KEY,
            "DATABASE_URL": f"sqlite:///{tmp_path / 'seatmeter.sqlite'}",
            "CELERY_BROKER_URL": "memory://",
        }
    )
    celery = app.extensions["celery"]
    assert not instance.exists()

    # What `celery beat` does when it starts, before its first tick (celery.apps.beat.Beat).
    options = celery.Beat()
    scheduler = beat.Service(
        app=celery, scheduler_cls=options.scheduler_cls, schedule_filename=options.schedule
    ).get_scheduler()
    try:
        assert "provisioning-sweep" in scheduler.schedule
        assert Path(celery.conf.beat_schedule_filename).parent == instance
        assert any(instance.iterdir()), "the schedule file was not written"
    finally:
        scheduler.close()


def test_file_schedule_without_redis_and_a_locked_schedule_with_it(tmp_path):
    def conf(broker: str) -> object:
        return (
            create_app(
                {
                    "INSTANCE_PATH": str(tmp_path),
                    "SECRET_KEY": TEST_SECRET_KEY,
                    "DATABASE_URL": f"sqlite:///{tmp_path / 'seatmeter.sqlite'}",
                    "CELERY_BROKER_URL": broker,
                    "BEAT_LOCK_SECONDS": "30",
                }
            )
            .extensions["celery"]
            .conf
        )

    assert conf("memory://").beat_scheduler is InstanceScheduler
    redis = conf("redis://127.0.0.1:6379/12")
    assert redis.beat_scheduler == "redbeat.RedBeatScheduler"
    assert redis.redbeat_redis_url == "redis://127.0.0.1:6379/12"
    assert redis.redbeat_lock_timeout == 30
    assert redis.beat_max_loop_interval < 30


@pytest.fixture
def private_redis(tmp_path):
    """A redis-server of the test's own on a free loopback port: no other test sees its keys."""
    binary = shutil.which("redis-server")
    if binary is None:
        if os.environ.get("SEATMETER_REQUIRE_STANDINS"):
            pytest.fail("redis-server is not installed (.ci/system-packages installs it)")
        pytest.skip("redis-server is not installed (apt-get install redis-server)")
    port = free_port()
    proc = subprocess.Popen(
        [binary, "--bind", LOOPBACK, "--port", str(port), "--save", "", "--appendonly", "no"],
        cwd=tmp_path,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_for_port(LOOPBACK, port, timeout=15)
        yield f"redis://{LOOPBACK}:{port}/0"
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def _start_beat(env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    celery = Path(sys.executable).parent / "celery"
    with log.open("wb") as out:
        return subprocess.Popen(
            [str(celery), "-A", "portal.worker:celery", "beat", "--loglevel", "INFO"],
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=env,
            cwd=ROOT,
        )


def _wait_for(condition: Callable[[], bool], timeout: float, what: str, logs: list[Path]) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            shown = "\n".join(f"--- {log.name}\n{log.read_text(errors='replace')[-2000:]}" for log in logs)
            raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}\n{shown}")
        time.sleep(0.2)


@pytest.mark.slow
def test_two_beats_on_redis_fire_once_and_the_standby_takes_over(private_redis, tmp_path):
    queue = f"beat-lock-{secrets.token_hex(3)}"
    env = {
        **os.environ,
        "DATABASE_URL": f"sqlite:///{tmp_path / 'seatmeter.sqlite'}",
        "CELERY_BROKER_URL": private_redis,
        "SECRET_KEY": TEST_SECRET_KEY,
        "PROVISIONING_QUEUE": queue,
        "PROVISIONING_SWEEP_INTERVAL": "1",
        "BEAT_LOCK_SECONDS": "3",
    }
    redis = Redis.from_url(private_redis)

    def sweeps_sent_by() -> Counter[str]:
        """Which process sent each provisioning sweep now waiting in the queue (Celery's origin)."""
        messages = [json.loads(raw) for raw in redis.lrange(queue, 0, -1)]
        return Counter(
            m["headers"]["origin"] for m in messages if m["headers"]["task"] == "provisioning.sweep"
        )

    first_log, second_log = tmp_path / "beat-1.log", tmp_path / "beat-2.log"
    first = _start_beat(env, first_log)
    second: subprocess.Popen[bytes] | None = None
    try:
        _wait_for(lambda: "Acquired lock" in first_log.read_text(), 60, "the first beat's lock", [first_log])
        second = _start_beat(env, second_log)
        _wait_for(lambda: "beat: Starting" in second_log.read_text(), 60, "the second beat", [second_log])
        _wait_for(lambda: sum(sweeps_sent_by().values()) >= 4, 30, "four sweeps", [first_log, second_log])

        # Both beats run; only the lock holder sends: one origin, about one sweep a second.
        senders = sweeps_sent_by()
        assert list(senders) == [f"gen{first.pid}@{socket.gethostname()}"], senders
        assert "Acquired lock" not in second_log.read_text()

        first.kill()  # as a crashed host: the lock is not released, it runs out
        first.wait()
        _wait_for(
            lambda: f"gen{second.pid}@{socket.gethostname()}" in sweeps_sent_by(),
            30,
            "the standby beat's first sweep",
            [second_log],
        )
        assert "Acquired lock" in second_log.read_text()
    finally:
        for proc in (first, second):
            if proc is not None and proc.poll() is None:
                proc.terminate()
                proc.wait(timeout=15)
