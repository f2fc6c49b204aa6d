"""Celery beat starts on a fresh clone: it makes the directory of its schedule file itself."""

from __future__ import annotations

from pathlib import Path

from celery import beat

from portal import create_app
from tests.conftest import TEST_SECRET_KEY


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
