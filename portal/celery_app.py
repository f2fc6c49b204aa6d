"""The Celery application: tasks run inside a Flask app context, one commit per task.

Jobs are sent with :func:`enqueue_after_commit`, the only way product code queues work.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from celery import Celery, Task
from celery.beat import PersistentScheduler
from celery.schedules import crontab
from flask import Flask, current_app

from portal.db import after_commit, db

log = logging.getLogger("seatmeter.celery")

# Modules that define tasks; each engine adds its own.
TASK_MODULES: list[str] = [
    "provisioning.tasks",
    "metering.billing.tasks",
    "metering.credits.tasks",
    "metering.quickbooks.tasks",
    "metering.psa.tasks",
    "provisioning.trueup.tasks",
    "portal.accounts.tasks",
    "portal.api.tasks",
    "portal.webhooks_out.tasks",
    "portal.notices.tasks",
]

# Periodic tasks run by beat: entry name -> (task name, config key of its interval in seconds).
BEAT_TASKS: dict[str, tuple[str, str]] = {
    "provisioning-sweep": ("provisioning.sweep", "PROVISIONING_SWEEP_INTERVAL"),
    "billing-push-sweep": ("metering.push_sweep", "BILLING_PUSH_SWEEP_INTERVAL"),
    "billing-dunning": ("metering.dunning", "BILLING_DUNNING_INTERVAL"),
    "psa-sweep": ("psa.sweep", "PSA_SWEEP_INTERVAL"),
    "webhooks-sweep": ("webhooks.sweep", "WEBHOOK_SWEEP_INTERVAL"),
    "notices-spla-reminders": ("notices.spla_reminders", "NOTICE_REMINDER_INTERVAL"),
    # Sends whatever a lost message or a QuickBooks outage left behind (nothing when not connected).
    "quickbooks-sync": ("metering.sync_quickbooks", "QUICKBOOKS_SYNC_INTERVAL"),
    # Housekeeping: failed logins past the lock window, spent one-time links, day-old API keys.
    "purge-sign-in-records": ("accounts.purge_expired", "PURGE_INTERVAL"),
    "purge-idempotency-keys": ("api.purge_idempotency_keys", "PURGE_INTERVAL"),
}


class InstanceScheduler(PersistentScheduler):
    """Beat's usual file-backed schedule, whose directory is made if it is missing.

    The schedule file lives in ``instance/``, which a fresh clone does not have until something
    writes there (nothing does when SECRET_KEY and DATABASE_URL come from the environment), and
    ``shelve`` does not create directories: beat would crash on start, and with it the sweep,
    dunning and the Stripe push.
    """

    def setup_schedule(self) -> None:
        Path(self.schedule_filename).parent.mkdir(parents=True, exist_ok=True)
        super().setup_schedule()


class BrokerOutage:
    """Remembers, per app, that the broker just failed, so the next sends don't wait on it too.

    Each failed connection costs the request about 0.6 s (redis-py's connect attempts): an order of
    60 seats during a Redis outage took 36 s and hit the web server's timeout, though it was
    committed. After one failure, sends are skipped for ``BROKER_OUTAGE_PAUSE`` seconds; what is
    skipped is committed work that the sweeps queue again.
    """

    def __init__(self, pause_seconds: float) -> None:
        self.pause_seconds = pause_seconds
        self._skip_until = 0.0

    def skipping(self) -> bool:
        return time.monotonic() < self._skip_until

    def failed(self) -> None:
        self._skip_until = time.monotonic() + self.pause_seconds


def beat_settings(app: Flask) -> dict[str, Any]:
    """Where beat keeps its schedule, and how a second beat is kept from firing it twice.

    With a Redis broker the schedule and a lock live in Redis (celery-redbeat): every beat started
    waits for the lock, only its holder sends anything, and it renews the lock on every tick. A
    standby beat on another host takes over within BEAT_LOCK_SECONDS of the holder's death. Without
    Redis (the SQLite broker of a single machine) there is one beat and a schedule file in instance/.
    """
    broker_url = app.config["CELERY_BROKER_URL"]
    if urlsplit(broker_url).scheme not in ("redis", "rediss"):
        return {
            "beat_scheduler": InstanceScheduler,
            "beat_schedule_filename": str(Path(app.instance_path) / "celerybeat-schedule"),
        }
    lock_seconds = int(app.config.get("BEAT_LOCK_SECONDS", 60))
    return {
        "beat_scheduler": "redbeat.RedBeatScheduler",
        "redbeat_redis_url": broker_url,
        # One schedule and lock per installation: two installations sharing a Redis database use
        # different queues (PROVISIONING_QUEUE), and so different keys.
        "redbeat_key_prefix": f"seatmeter:{app.config.get('PROVISIONING_QUEUE', 'seatmeter')}:beat:",
        "redbeat_lock_timeout": lock_seconds,
        # The holder renews the lock on each tick, so it must tick well within the lock's lifetime;
        # a standby tries for the lock as often.
        "beat_max_loop_interval": max(1, lock_seconds // 5),
        "beat_schedule_filename": str(Path(app.instance_path) / "celerybeat-schedule"),
    }


def celery_init_app(app: Flask) -> Celery:
    class FlaskTask(Task):
        def __call__(self, *args: Any, **kwargs: Any) -> Any:
            with app.app_context():
                return self.run(*args, **kwargs)

    broker_url = app.config["CELERY_BROKER_URL"]
    if broker_url.startswith("sqla+"):
        # kombu's SQL transport polls once a second by default; a job would wait that long.
        # (Passing polling_interval through broker_transport_options crashes the worker: kombu
        # hands it to create_engine.)
        from kombu.transport import sqlalchemy as kombu_sqlalchemy

        kombu_sqlalchemy.Transport.polling_interval = 0.1

    celery = Celery(app.import_name, task_cls=FlaskTask, include=TASK_MODULES)
    celery.conf.update(
        broker_url=broker_url,
        # Celery lets the CELERY_BROKER_URL environment variable win over broker_url whatever the
        # app says; the read and write URLs are what it connects with, so this app's own setting
        # (from a *_FILE, or an app built for another broker in the same process) is used.
        broker_read_url=broker_url,
        broker_write_url=broker_url,
        broker_connection_retry_on_startup=True,
        task_ignore_result=True,
        # A task is acknowledged when it finishes, so a killed worker's task is delivered again;
        # every task is idempotent for that reason.
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        task_default_queue=app.config.get("CELERY_DEFAULT_QUEUE", "seatmeter"),
        timezone="UTC",
        enable_utc=True,
        beat_schedule={
            **{
                entry: {"task": task, "schedule": float(app.config.get(interval_key, 60))}
                for entry, (task, interval_key) in BEAT_TASKS.items()
            },
            # The true-up's discovery run, nightly at TRUEUP_HOUR (UTC).
            "trueup-nightly": {
                "task": "trueup.run",
                "schedule": crontab(minute=0, hour=app.config.get("TRUEUP_HOUR", 2)),
            },
            **app.config.get("CELERY_BEAT_SCHEDULE", {}),
        },
        # Provisioning has its own queue setting, so its workers can be scaled separately.
        task_routes={"provisioning.*": {"queue": app.config.get("PROVISIONING_QUEUE", "seatmeter")}},
        **beat_settings(app),
        task_always_eager=app.config.get("CELERY_TASK_ALWAYS_EAGER", False),
    )
    if broker_url.startswith(("redis", "amqp", "pyamqp")):
        # A web request that sends a message tries the broker once: kombu's default is eight
        # attempts over 6 s when Redis refuses the connection. Workers keep retrying on their own
        # (broker_connection_retry); this only sets how long a send waits.
        celery.conf.broker_transport_options = {
            "max_retries": 1,
            "interval_start": 0,
            "interval_step": 0.1,
            "interval_max": 0.2,
        }
    celery.set_default()
    app.extensions["celery"] = celery
    app.extensions["seatmeter.broker_outage"] = BrokerOutage(app.config.get("BROKER_OUTAGE_PAUSE", 10))
    return celery


def enqueue_after_commit(task: str | Task, *args: Any, **options: Any) -> None:
    """Send ``task`` with ``args`` once the current transaction commits; never if it rolls back.

    ``task`` is a task's name or the task itself; ``options`` go to ``send_task`` (``queue``,
    ``countdown``, ...). The message goes through this Flask app's own Celery app, never Celery's
    process-wide default (whichever app was created last, e.g. another app in the same process),
    so it reaches this installation's broker and queue. A broker that is down is logged, not
    raised: the data is committed already, and every job has a sweep or a retry that heals a lost
    message.
    """
    name = task if isinstance(task, str) else task.name
    # Resolved now, inside the app context that asked, rather than when the commit fires.
    celery: Celery = current_app.extensions["celery"]
    outage: BrokerOutage = current_app.extensions["seatmeter.broker_outage"]

    def _send() -> None:
        if outage.skipping():
            log.warning("not queueing %s%s: the broker was down moments ago; sent again later", name, args)
            return
        try:
            # No publish retries: the sweep or the task's own retry heals a lost message, while
            # every retry here is time a client waits for its page.
            celery.send_task(name, args=list(args), retry=False, **options)
        except Exception as error:  # any broker failure: see above
            outage.failed()
            log.warning("could not queue %s%s (%s); it is sent again later", name, tuple(args), error)

    after_commit(db.session, _send)
