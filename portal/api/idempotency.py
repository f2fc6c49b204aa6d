"""``Idempotency-Key`` for POST requests, and the commit at the end of every API write.

The same key with the same request (method, path, query and canonical JSON body) from the same
token answers the first response again, status and body, and does nothing. The same key with a
different request is a 409. Keys are claimed by inserting their row before the view runs, so of
two concurrent requests with one key the second waits on the unique constraint until the first
commits, then replays its answer (or gets the 409). A request that fails changes nothing and is
not remembered: correct it and send it again with the same key.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable
from datetime import datetime, timedelta
from functools import wraps
from typing import Any, TypeVar

from flask import Response, current_app, request
from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError

from portal.api.auth import current_token
from portal.api.errors import ApiError
from portal.api.models import IdempotencyKey
from portal.db import db

F = TypeVar("F", bound=Callable[..., Any])

HEADER = "Idempotency-Key"
KEY_PATTERN = r"[\x21-\x7e]{1,255}"  # visible ASCII, e.g. a UUID
REPLAYED_HEADER = "Idempotent-Replayed"
# How long a key is remembered (docs/api.md's contract says 24 hours): long enough for any
# client's retries, short enough that the table does not grow for ever.
KEY_LIFETIME = timedelta(hours=24)


def purge_idempotency_keys(now: datetime) -> int:
    """Forget keys older than KEY_LIFETIME: the same key sent later is a new request."""
    result = db.session.execute(delete(IdempotencyKey).where(IdempotencyKey.created_at <= now - KEY_LIFETIME))
    db.session.flush()
    return result.rowcount or 0  # type: ignore[attr-defined]


def commit_changes() -> None:
    """Commit the request's unit of work; a unique constraint hit by a concurrent request is a 409."""
    try:
        db.session.commit()
    except IntegrityError:
        db.session.rollback()
        raise ApiError(
            409,
            "conflict",
            "Another request changed the same thing at the same moment; nothing was done. Try again.",
        ) from None


def request_fingerprint() -> str:
    raw = request.get_data(cache=True)
    try:
        body: Any = (
            json.dumps(json.loads(raw), sort_keys=True, separators=(",", ":")) if raw.strip() else None
        )
    except (ValueError, RecursionError):
        # Not JSON: the view answers 400 and nothing is remembered, so any stable value will do.
        body = hashlib.sha256(raw).hexdigest()
    canonical = json.dumps(
        {
            "method": request.method,
            "path": request.path,
            "query": sorted(request.args.items(multi=True)),
            "body": body,
        },
        sort_keys=True,
        separators=(",", ":"),
    )
    return hashlib.sha256(canonical.encode()).hexdigest()


def _replay(existing: IdempotencyKey, fingerprint: str) -> Response:
    if existing.fingerprint != fingerprint:
        raise ApiError(
            409,
            "idempotency_key_reused",
            f"This {HEADER} was already used for a different request. Use a new key for a new request.",
        )
    if existing.status_code is None or existing.response_body is None:
        raise ApiError(409, "conflict", f"A request with this {HEADER} is still running. Try again.")
    response = Response(existing.response_body, status=existing.status_code, mimetype="application/json")
    response.headers[REPLAYED_HEADER] = "true"
    return response


def _claim(key: str, fingerprint: str) -> IdempotencyKey | Response:
    """Insert the key's row (ours now), or answer from the row another request committed first."""
    token = current_token()
    record = IdempotencyKey(
        token_id=token.id, key=key, fingerprint=fingerprint, method=request.method, path=request.path
    )
    try:
        with db.session.begin_nested():
            db.session.add(record)
    except IntegrityError:
        existing = db.session.scalars(
            select(IdempotencyKey).where(IdempotencyKey.token_id == token.id, IdempotencyKey.key == key)
        ).one()
        response = _replay(existing, fingerprint)
        db.session.rollback()
        return response
    return record


def idempotent(view: F) -> F:
    """For POST views that do not commit: honour ``Idempotency-Key`` and commit the effect with it.

    Use it inside :func:`portal.api.auth.token_required` (keys belong to a token).
    """

    @wraps(view)
    def wrapped(*args: Any, **kwargs: Any) -> Any:
        key = request.headers.get(HEADER)
        record = None
        if key is not None:
            if not re.fullmatch(KEY_PATTERN, key):
                raise ApiError(
                    400,
                    "bad_request",
                    f"{HEADER} must be 1 to 255 visible ASCII characters, e.g. a UUID.",
                    {HEADER: "1 to 255 visible ASCII characters."},
                )
            claimed = _claim(key, request_fingerprint())
            if isinstance(claimed, Response):
                return claimed
            record = claimed
        response = current_app.make_response(view(*args, **kwargs))
        if not 200 <= response.status_code < 300:
            # Views raise their errors; an error answered some other way must not commit either.
            db.session.rollback()
            return response
        if record is not None:
            record.status_code = response.status_code
            record.response_body = response.get_data(as_text=True)
        commit_changes()
        return response

    return wrapped  # type: ignore[return-value]
