"""Pytest plugin: a real Kamailio SIP registrar on 127.0.0.1 (``sandbox.kamailio`` starts it), and
SIPp as an independent second opinion that a seat can register. The facts checked about Kamailio are
in ``sandbox/kamailio.py``.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from sandbox.kamailio import (
    APT_PACKAGES,
    DEFAULT_DOMAIN,
    HOST,
    INSTALL_HINT,
    SCHEMA_DIRS,
    SCHEMA_FILES,
    Kamailio,
    create_subscriber_db,
    find_binary,
    missing_requirements,
    module_dir,
    render_config,
    start_kamailio,
    stop_kamailio,
)

__all__ = [
    "APT_PACKAGES",
    "DEFAULT_DOMAIN",
    "SCHEMA_DIRS",
    "SCHEMA_FILES",
    "Kamailio",
    "create_subscriber_db",
    "module_dir",
    "render_config",
    "start_kamailio",
    "stop_kamailio",
]


@pytest.fixture(scope="session")
def kamailio(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Kamailio]:
    """A Kamailio registrar for the whole session, on a free UDP port of 127.0.0.1."""
    reason = missing_requirements()
    if reason:
        # CI installs the packages; there a missing binary is a failure, never a silent skip.
        if os.environ.get("SEATMETER_REQUIRE_STANDINS"):
            pytest.fail(reason)
        pytest.skip(reason)
    proc, info = start_kamailio(tmp_path_factory.mktemp("kamailio"))
    try:
        yield info
    finally:
        stop_kamailio(proc)


@pytest.fixture
def clean_kamailio(kamailio: Kamailio) -> Iterator[Kamailio]:
    """The session's Kamailio with an empty subscriber table before and after the test.

    Registrations already made stay in Kamailio's memory (usrloc db_mode 0) until they expire;
    only the subscriber rows are reset."""
    kamailio.clear_subscribers()
    yield kamailio
    kamailio.clear_subscribers()


# --- SIPp: an independent second opinion that a seat can register ---------------------------------

_SIPP_REGISTER = """<?xml version="1.0" encoding="ISO-8859-1" ?>
<!DOCTYPE scenario SYSTEM "sipp.dtd">
<scenario name="REGISTER answering a digest challenge">
  <send retrans="500"><![CDATA[
{request}
Content-Length: 0

  ]]></send>
  <recv response="401" auth="true"/>
  <send retrans="500"><![CDATA[
{request2}
[authentication]
Content-Length: 0

  ]]></send>
  <recv response="200"/>
</scenario>
"""

_REQUEST = """REGISTER sip:{domain} SIP/2.0
Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
Max-Forwards: 70
From: <sip:{user}@{domain}>;tag=[pid]SIPpTag[call_number]
To: <sip:{user}@{domain}>
Call-ID: [call_id]
CSeq: {cseq} REGISTER
Contact: <sip:{user}@[local_ip]:[local_port]>
Expires: 60"""


def _check_sipp_value(value: str) -> None:
    # Values are pasted into a CDATA SIP message where [..] are SIPp keywords; reject anything that
    # would change the scenario rather than escape it (extensions and domains never need these).
    if not value or any(c.isspace() or c in "[]<>\"'&" for c in value):
        raise ValueError(f"unsupported character in SIPp value: {value!r}")


def sipp_register(
    host: str,
    port: int,
    username: str,
    domain: str,
    password: str,
    timeout: float = 10.0,
    workdir: Path | None = None,
) -> bool:
    """True if SIPp can REGISTER username@domain (401 challenge answered, then 200).

    The credentials go in -au/-ap and the scenario uses a bare `[authentication]`, so a password
    with spaces or `]` cannot break SIPp's keyword parsing. Every socket is pinned to 127.0.0.1:
    without -ci SIPp's control socket binds 0.0.0.0:8888. SIPp picks free SIP/RTP/control ports
    itself (it steps up from 5060/6000/8888 when busy). With workdir, scenario and output stay there.
    """
    sipp = find_binary("sipp")
    if sipp is None:
        raise FileNotFoundError(f"sipp not installed ({INSTALL_HINT})")
    for value in (username, domain):
        _check_sipp_value(value)
    with contextlib.ExitStack() as stack:
        folder = workdir or Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="sipp-")))
        scenario = folder / f"register-{username}-{domain}.xml"
        scenario.write_text(
            _SIPP_REGISTER.format(
                request=_REQUEST.format(domain=domain, user=username, cseq=1),
                request2=_REQUEST.format(domain=domain, user=username, cseq=2),
            )
        )
        argv = [
            sipp,
            "-sf",
            str(scenario),
            "-i",
            HOST,
            "-ci",
            HOST,
            "-mi",
            HOST,
            "-au",
            username,
            "-ap",
            password,
            "-m",
            "1",
            "-nostdin",
            "-timeout",
            f"{max(1, round(timeout))}s",
            "-timeout_error",
            f"{host}:{port}",
        ]
        result = subprocess.run(
            argv, cwd=folder, stdin=subprocess.DEVNULL, capture_output=True, timeout=timeout + 10, check=False
        )
        (folder / f"{scenario.stem}.out").write_bytes(result.stdout + result.stderr)
        # Exit codes: 0 all calls succeeded, 1 some failed, 97/99/255 aborted or nothing ran.
        return result.returncode == 0
