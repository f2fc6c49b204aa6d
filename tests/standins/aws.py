"""Pytest plugin: AWS stand-ins.

* ``moto_server`` (session): a real ``moto_server`` process on 127.0.0.1 for EC2, Directory Service,
  WorkSpaces, IAM, S3, SES, STS ...  ``aws_env`` (function) resets it and sets dummy credentials.
* ``workmail_server`` (session): our own WorkMail stand-in (moto has no WorkMail backend), see
  ``sandbox/workmail_server.py``.  ``workmail`` (function) resets it.

Product code gets ``endpoint_url`` / ``region`` from the yielded dataclasses and builds its normal
boto3 clients; nothing here patches boto3.
"""

from __future__ import annotations

import json
import sys
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

# The same directory make run's sandbox builds, re-exported for the tests that import it from here.
from sandbox.platforms import make_workspaces_directory as make_workspaces_directory
from tests.standins.ports import LOOPBACK, free_port, start_server, stop_process

REGION = "us-east-1"
# Anything non-empty works for moto and the WorkMail stand-in; never real credentials.
DUMMY_KEY_ID = "testing"
DUMMY_SECRET = "testing"
REPO_ROOT = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class MotoServer:
    endpoint_url: str
    region: str = REGION


@dataclass(frozen=True)
class WorkMailServer:
    endpoint_url: str
    organization_id: str
    # Addresses registered with RegisterToWorkMail must use this domain (MailDomainNotFoundException
    # otherwise), like a real organization's default <alias>.awsapps.com domain.
    mail_domain: str
    region: str = REGION


def _post(url: str, body: dict[str, object] | None = None) -> bytes:
    data = json.dumps(body).encode() if body is not None else b""
    req = urllib.request.Request(url, data=data, method="POST", headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=10) as resp:
        return bytes(resp.read())


def _set_dummy_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    # Also hide a developer's ~/.aws profile so it can never leak into a test (or vice versa).
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", DUMMY_KEY_ID)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", DUMMY_SECRET)
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    monkeypatch.setenv("AWS_CONFIG_FILE", "/nonexistent/aws-config")
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent/aws-credentials")
    # Retry settings from the environment would change what the fault-injection tests observe.
    for name in (
        "AWS_PROFILE",
        "AWS_SESSION_TOKEN",
        "AWS_SECURITY_TOKEN",
        "AWS_ENDPOINT_URL",
        "AWS_RETRY_MODE",
        "AWS_MAX_ATTEMPTS",
    ):
        monkeypatch.delenv(name, raising=False)


def _moto_server_executable() -> str:
    # Use the console script of the interpreter running pytest, not whatever is first on PATH.
    exe = Path(sys.executable).parent / "moto_server"
    if not exe.exists():
        pytest.fail(f"moto_server not found next to {sys.executable}; install moto[server]", pytrace=False)
    return str(exe)


@pytest.fixture(scope="session")
def moto_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MotoServer]:
    port = free_port()
    log = tmp_path_factory.mktemp("moto") / "moto_server.log"
    try:
        proc = start_server([_moto_server_executable(), "-H", LOOPBACK, "-p", str(port)], port, log)
    except RuntimeError as exc:
        pytest.fail(str(exc), pytrace=False)
    try:
        yield MotoServer(endpoint_url=f"http://{LOOPBACK}:{port}")
    finally:
        stop_process(proc)


@pytest.fixture
def aws_env(moto_server: MotoServer, monkeypatch: pytest.MonkeyPatch) -> MotoServer:
    """Empty moto state plus dummy credentials/region in the environment."""
    _post(f"{moto_server.endpoint_url}/moto-api/reset")
    _set_dummy_credentials(monkeypatch)
    return moto_server


@pytest.fixture(scope="session")
def workmail_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[WorkMailServer]:
    port = free_port()
    # Real organization ids match ^m-[0-9a-f]{32}$ (botocore service model); keep that shape so
    # product-side validation behaves the same as against AWS.
    organization_id = f"m-{uuid.uuid4().hex}"
    alias = "seatmeter-test"
    log = tmp_path_factory.mktemp("workmail") / "workmail_server.log"
    argv = [
        sys.executable,
        "-m",
        "sandbox.workmail_server",
        "--port",
        str(port),
        "--organization",
        f"{organization_id}:{alias}",
    ]
    try:
        proc = start_server(argv, port, log, cwd=REPO_ROOT)
    except RuntimeError as exc:
        pytest.fail(str(exc), pytrace=False)
    try:
        yield WorkMailServer(
            endpoint_url=f"http://{LOOPBACK}:{port}",
            organization_id=organization_id,
            mail_domain=f"{alias}.awsapps.com",
        )
    finally:
        stop_process(proc)


@pytest.fixture
def workmail(workmail_server: WorkMailServer, monkeypatch: pytest.MonkeyPatch) -> WorkMailServer:
    """Fresh WorkMail state (the session's organization, no users, no faults) plus dummy credentials."""
    _post(f"{workmail_server.endpoint_url}/_control/reset")
    _set_dummy_credentials(monkeypatch)
    return workmail_server


def inject_workmail_fault(
    server: WorkMailServer, action: str, error: str, status: int = 400, count: int = 1
) -> None:
    """Make the next ``count`` calls of ``action`` fail with ``error`` (e.g. ThrottlingException)."""
    body = {"action": action, "error": error, "status": status, "count": count}
    _post(f"{server.endpoint_url}/_control/faults", body)


def workmail_call_counts(server: WorkMailServer) -> dict[str, int]:
    """How many requests per action the stand-in has received since the last reset (retries included)."""
    with urllib.request.urlopen(f"{server.endpoint_url}/_control/calls", timeout=10) as resp:
        counts: dict[str, int] = json.loads(resp.read())
    return counts
