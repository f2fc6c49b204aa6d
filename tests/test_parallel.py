"""The parallel run's rules (tests/parallel.py): own Redis database per worker, and the tests that
must share one worker grouped so that pytest-xdist's loadgroup keeps them together."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.parallel import FIXED_PORTS_GROUP, broker_url_for_worker, worker_index

pytest_plugins = ["pytester"]


def test_each_worker_gets_its_own_redis_database_counting_down_from_the_configured_one():
    urls = [broker_url_for_worker("redis://127.0.0.1:6379/15", index) for index in range(3)]

    assert urls == ["redis://127.0.0.1:6379/15", "redis://127.0.0.1:6379/14", "redis://127.0.0.1:6379/13"]
    assert broker_url_for_worker("redis://:p%40ss@127.0.0.1:6379/1", 2) == "redis://:p%40ss@127.0.0.1:6379/15"
    assert broker_url_for_worker("redis://127.0.0.1:6379", 1) == "redis://127.0.0.1:6379/15"


@pytest.mark.parametrize("url", ["memory://", "sqla+sqlite:////tmp/x/broker.sqlite"])
def test_brokers_that_are_private_to_a_test_stay_as_configured(url):
    assert broker_url_for_worker(url, 1) == url


def test_worker_index_from_xdist_worker_name():
    assert [worker_index(name) for name in ("gw0", "gw3", "")] == [0, 3, 0]


GROUPED_SUITE = """
import pytest

@pytest.fixture(scope="session")
def directory():
    return "samba"

@pytest.fixture(scope="module")
def portal():
    return "portal"

def test_uses_directory(directory): pass
@pytest.mark.fixed_ports
def test_marked_fixed_ports(): pass
def test_uses_portal_a(portal): pass
def test_uses_portal_b(portal): pass
@pytest.mark.xdist_group("own")
def test_with_its_own_group(directory): pass
def test_free(): pass
"""


# The inner session loads tests.parallel again, which this process has imported (and rewritten) already.
@pytest.mark.filterwarnings("ignore:Module already imported:pytest.PytestAssertRewriteWarning")
def test_fixed_port_tests_and_module_fixtures_are_grouped(pytester: pytest.Pytester):
    pytester.makeconftest('pytest_plugins = ["tests.parallel"]\n')
    pytester.makepyfile(test_suite=GROUPED_SUITE)

    items, _ = pytester.inline_genitems()

    marks = {item.name: item.get_closest_marker("xdist_group") for item in items}
    groups = {name: mark.args[0] if mark else None for name, mark in marks.items()}
    assert groups == {
        "test_uses_directory": FIXED_PORTS_GROUP,
        "test_marked_fixed_ports": FIXED_PORTS_GROUP,
        "test_uses_portal_a": "module:test_suite.py",
        "test_uses_portal_b": "module:test_suite.py",
        "test_with_its_own_group": "own",
        "test_free": None,
    }


WORKER_SUITE = (
    """
import os
import pathlib

import pytest

@pytest.fixture(scope="session")
def directory():
    return "samba"

def note(name):
    pathlib.Path(name + ".worker").write_text(os.environ["PYTEST_XDIST_WORKER"])
"""
    + "".join(f"def test_fixed_{i}(directory): note('fixed-{i}')\n" for i in range(8))
    + "".join(f"def test_free_{i}(): note('free-{i}')\n" for i in range(8))
)


@pytest.mark.slow
def test_a_group_runs_on_one_worker_in_a_real_parallel_session(pytester: pytest.Pytester, monkeypatch):
    # pytest 9.2 and xdist 3.8 lost the group suffix: the Samba tests ran on both workers and fought over
    # ports 389/636. This runs two real workers and reads back where each test ran.
    monkeypatch.setenv("PYTHONPATH", str(Path(__file__).resolve().parents[1]))
    pytester.makeconftest('pytest_plugins = ["tests.parallel"]\n')
    pytester.makepyfile(test_suite=WORKER_SUITE)

    result = pytester.runpytest_subprocess("-n", "2", "--dist", "loadgroup", "-p", "no:cacheprovider")

    result.assert_outcomes(passed=16)
    fixed_workers = {p.read_text() for p in pytester.path.glob("fixed-*.worker")}
    assert len(list(pytester.path.glob("fixed-*.worker"))) == 8
    assert len(fixed_workers) == 1, f"the fixed-port group ran on {sorted(fixed_workers)}"
