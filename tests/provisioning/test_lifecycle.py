"""The state machine and the redaction of recorded errors."""

from __future__ import annotations

import pytest

from portal.orders.models import SeatState
from provisioning.lifecycle import SETTLED, TRANSITIONS
from provisioning.redaction import REDACTED, redact


def test_every_state_has_its_moves_and_terminated_is_final():
    assert set(TRANSITIONS) == set(SeatState)
    assert TRANSITIONS[SeatState.TERMINATED] == frozenset()
    # Every non-final state can fail, and every failure can be retried or cancelled.
    assert all(SeatState.FAILED in TRANSITIONS[s] for s in SeatState if s not in SETTLED)
    assert {SeatState.PROVISIONING, SeatState.TERMINATING} <= TRANSITIONS[SeatState.FAILED]
    # Nothing becomes active without a worker having acted on the platform.
    assert [s for s in SeatState if SeatState.ACTIVE in TRANSITIONS[s]] == [
        SeatState.PROVISIONING,
        SeatState.RESUMING,
    ]


@pytest.mark.parametrize(
    ("text", "secret"),
    [
        ('CreateUser failed: {"Password": "Hunter2-secret"}', "Hunter2-secret"),
        ("password=hunter2 rest", "hunter2"),
        (
            "Authorization: AWS4-HMAC-SHA256 Credential=AKIAABCDEFGHIJKLMNOP/2024, Signature=abc",
            "Signature=abc",
        ),
        ("could not connect to postgresql://kam:s3cr3t@db.colo/kamailio", "s3cr3t"),
        ("key AKIAABCDEFGHIJKLMNOP leaked", "AKIAABCDEFGHIJKLMNOP"),
        ("Bearer sm_live_abcdef123", "sm_live_abcdef123"),
    ],
)
def test_secrets_are_redacted(text, secret):
    cleaned = redact(text)
    assert secret not in cleaned and REDACTED in cleaned


def test_known_secret_values_are_redacted_anywhere():
    assert redact("the phone says xyz-123-abc", "xyz-123-abc") == f"the phone says {REDACTED}"
