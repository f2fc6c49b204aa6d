"""Idempotency-Keys are remembered for 24 hours (docs/api.md's contract), then forgotten."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from portal.accounts.models import Role
from portal.accounts.token_services import create_api_token
from portal.api.models import IdempotencyKey
from portal.api.tasks import purge_old_idempotency_keys
from portal.audit.services import Actor
from portal.db import db, utcnow


def test_keys_older_than_a_day_go_newer_ones_stay(app):
    token, _raw = create_api_token(Actor.system("tests"), "rmm", Role.RESELLER_ADMIN, None)
    now = utcnow()
    for key, age in (("day-and-a-minute", timedelta(hours=24, minutes=1)), ("23-hours", timedelta(hours=23))):
        db.session.add(
            IdempotencyKey(
                token_id=token.id,
                key=key,
                fingerprint="0" * 64,
                method="POST",
                path="/api/v1/orders",
                status_code=201,
                response_body="{}",
                created_at=now - age,
            )
        )
    db.session.commit()

    assert purge_old_idempotency_keys() == {"idempotency_keys": 1}

    db.session.expire_all()
    assert [row.key for row in db.session.scalars(select(IdempotencyKey))] == ["23-hours"]
