"""`make audit` where PyPI's JSON API is out of reach: one plain line and success, never a red build."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.skipif(shutil.which("make") is None, reason="needs make")
def test_make_audit_says_it_skipped_when_the_vulnerability_database_is_unreachable():
    # A proxy on a closed loopback port: every https request fails at once, as offline.
    unreachable = {"https_proxy": "http://127.0.0.1:9", "HTTPS_PROXY": "http://127.0.0.1:9", "no_proxy": ""}
    completed = subprocess.run(
        ["make", "--no-print-directory", "-s", "audit"],
        cwd=ROOT,
        env={**os.environ, **unreachable},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )

    assert completed.returncode == 0, completed.stderr
    assert "pip-audit skipped: vulnerability database unreachable" in completed.stdout
