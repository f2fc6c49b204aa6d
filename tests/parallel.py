"""Pytest plugin: what keeps the suite correct when pytest-xdist runs it in several worker processes.

``make test`` runs ``pytest -n auto`` with ``--dist loadgroup`` (pyproject's addopts). Each worker is
its own pytest session, so session fixtures already give it its own SQLite files (its own
``tmp_path_factory`` folder), its own PostgreSQL scratch databases (``ScratchDatabases``) and its own
stand-in processes on free ports. Two things are shared by the machine and handled here:

* the Redis server of ``CELERY_BROKER_URL``: each worker gets a database number of its own, counting
  down from the configured one (``/15`` gives gw0 15, gw1 14, ...), so a worker's Celery processes,
  beat locks and queues never meet another worker's;
* fixed ports and heavy session processes: every test that uses a fixture of
  :data:`ONE_WORKER_FIXTURES`, or is marked ``fixed_ports``, joins that fixture's ``xdist_group``,
  and loadgroup sends a whole group to one worker. Tests whose fixtures include a module-scoped one
  (a portal and a browser started for one module) stay with the rest of their module.

docs/testing.md says how to add a test that needs a fixed port.
"""

from __future__ import annotations

import os

import pytest
from sqlalchemy.engine import make_url

# Set by pytest-xdist in each worker process ("gw0", "gw1", ...); absent in a run without -n.
XDIST_WORKER = os.environ.get("PYTEST_XDIST_WORKER", "")

REDIS_DATABASES = 16  # redis-server's default `databases`

FIXED_PORTS_GROUP = "fixed-ports"
# Session fixtures that must not start once per worker: the Samba AD DC binds 389/636/3268/3269
# (fixed in Samba), and `make run`'s whole sandbox is too heavy to start twice.
ONE_WORKER_FIXTURES = {
    "directory": FIXED_PORTS_GROUP,
    "demo_run": "demo-run",
}


def worker_index(worker: str = XDIST_WORKER) -> int:
    return int(worker.removeprefix("gw")) if worker.startswith("gw") else 0


def broker_url_for_worker(broker_url: str, index: int) -> str:
    """The worker's own Redis database on the configured server; other brokers are left as they are
    (an SQLite broker is a file under each test's own folder, ``memory://`` is per process)."""
    url = make_url(broker_url)
    if url.drivername not in ("redis", "rediss"):
        return broker_url
    configured = int(url.database or 0)
    own = (configured - index) % REDIS_DATABASES
    return url.set(database=str(own)).render_as_string(hide_password=False)


def pytest_configure(config: pytest.Config) -> None:
    broker_url = os.environ.get("CELERY_BROKER_URL")
    if XDIST_WORKER and broker_url:
        # Before any fixture reads it; every process a test starts inherits it.
        os.environ["CELERY_BROKER_URL"] = broker_url_for_worker(broker_url, worker_index())


def xdist_group_of(item: pytest.Item) -> str | None:
    """The group a test must share a worker with, or None when any worker may run it."""
    if item.get_closest_marker("fixed_ports"):
        return FIXED_PORTS_GROUP
    fixture_names = set(getattr(item, "fixturenames", ()))
    for fixture, group in ONE_WORKER_FIXTURES.items():
        if fixture in fixture_names:
            return group
    # pytest keeps no public map from a test to its fixtures' definitions.
    fixture_info = getattr(item, "_fixtureinfo", None)
    definitions = getattr(fixture_info, "name2fixturedefs", {})
    if any(d.scope == "module" for defs in definitions.values() for d in defs):
        return f"module:{item.nodeid.split('::', 1)[0]}"
    return None


# pytest-xdist's worker turns xdist_group marks into an `@group` suffix of the node id, which is what its
# loadgroup scheduler groups by. With pytest 9.2 its suffix never reaches the id (see _suffix_node_id), so
# both workers started Samba on its fixed ports; the suffix is added here, once, the way xdist writes it.
@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    loadgroup = bool(getattr(config.option, "loadgroup", False))
    for item in items:
        if item.get_closest_marker("xdist_group"):
            continue
        group = xdist_group_of(item)
        if group is None:
            continue
        item.add_marker(pytest.mark.xdist_group(group))
        if loadgroup and "@" not in item.nodeid:
            _suffix_node_id(item, group)


def _suffix_node_id(item: pytest.Item, group: str) -> None:
    # pytest 9.2 keeps a node's id as a NodeId in `_id` (pyproject asks for >=9.2); xdist 3.8 still writes
    # `_nodeid`, which pytest no longer reads, so its own suffix is lost and loadgroup groups nothing.
    from _pytest.nodeid import coerce_node_id

    item._id = coerce_node_id(f"{item.nodeid}@{group}")
