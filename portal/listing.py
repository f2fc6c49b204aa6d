"""Lists a page at a time (keyset pagination) and searched by name, the same way in pages and the API.

A cursor names the position between two rows by the values of the list's sort keys, so a page costs an
index range scan wherever it is, and rows added or removed while someone walks the pages never make a
row that existed throughout appear twice or go missing. Cursors are signed with the app's secret and the
list's name: a cursor of another list, an edited one or garbage is refused with :class:`InvalidCursor`
(a 400 in plain words), never handed to the database.

Search compares a *stored* case-folded copy of the searched text (``str.casefold`` in Python, the same
on SQLite and PostgreSQL: SQLite's ``LIKE`` and ``lower()`` fold ASCII only, and PostgreSQL's follow the
database's locale) against the case-folded term, with ``%`` and ``_`` escaped so they match themselves.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Generic, TypeVar
from urllib.parse import urlencode

from flask import current_app, request
from itsdangerous import BadData, URLSafeSerializer
from sqlalchemy import ColumnElement, Select, SQLColumnExpression, and_, or_

from portal.db import db
from portal.errors import ServiceError

T = TypeVar("T")

# Searches longer than this are cut: a name column is at most 254 characters anyway.
MAX_SEARCH = 200
_LIKE_ESCAPE = "\\"


class InvalidCursor(ServiceError):
    code = "invalid_cursor"
    http_status = 400


def fold(text: str) -> str:
    """The form stored in ``search_text`` columns and compared with search terms."""
    return " ".join(text.casefold().split())


def clean_search(raw: str | None) -> str:
    """A search term as typed, without NULs (PostgreSQL refuses them even in a pattern), trimmed."""
    return (raw or "").replace("\x00", "").strip()[:MAX_SEARCH]


def contains(column: SQLColumnExpression[str], term: str) -> ColumnElement[bool]:
    """``column`` (a stored folded text) contains ``term``, every character of it taken literally."""
    folded = fold(term)
    escaped = (
        folded.replace(_LIKE_ESCAPE, _LIKE_ESCAPE * 2)
        .replace("%", _LIKE_ESCAPE + "%")
        .replace("_", _LIKE_ESCAPE + "_")
    )
    return column.like(f"%{escaped}%", escape=_LIKE_ESCAPE)


@dataclass(frozen=True)
class SortKey:
    """One column of a list's order; the last key of a list must be unique (an id)."""

    column: SQLColumnExpression[Any]
    descending: bool = False


@dataclass(frozen=True)
class Page(Generic[T]):
    rows: list[T]
    next_cursor: str | None
    previous_cursor: str | None


def _serializer(list_name: str) -> URLSafeSerializer:
    return URLSafeSerializer(current_app.config["SECRET_KEY"], salt=f"seatmeter.list.{list_name}")


def _encode_value(value: Any) -> Any:
    if isinstance(value, datetime):
        return {"t": value.isoformat()}
    if hasattr(value, "value") and not isinstance(value, int | str):
        return value.value  # an enum member: its stored value
    return value


def _decode_value(value: Any) -> Any:
    if isinstance(value, dict):
        stamp = value.get("t")
        if not isinstance(stamp, str):
            raise ValueError("not a timestamp")
        return datetime.fromisoformat(stamp)
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise ValueError("not a key value")
    return value


def encode_cursor(list_name: str, forward: bool, values: Sequence[Any]) -> str:
    payload = {"d": "n" if forward else "p", "k": [_encode_value(value) for value in values]}
    return str(_serializer(list_name).dumps(payload))


def decode_cursor(list_name: str, cursor: str, key_count: int) -> tuple[bool, list[Any]]:
    """(forward, key values) of a cursor this list handed out; anything else is InvalidCursor."""
    problem = InvalidCursor(
        "This page link is not valid for this list (it may belong to another list or be cut short). "
        "Start again from the first page.",
        fields={"cursor": "Not a cursor of this list."},
    )
    if len(cursor) > 2000:
        raise problem
    try:
        payload = _serializer(list_name).loads(cursor)
        direction = payload["d"]
        values = [_decode_value(value) for value in payload["k"]]
    except (BadData, KeyError, TypeError, ValueError, AttributeError):
        raise problem from None
    if direction not in ("n", "p") or len(values) != key_count:
        raise problem
    return direction == "n", values


def _beyond(keys: Sequence[SortKey], values: Sequence[Any], forward: bool) -> ColumnElement[bool]:
    """Rows strictly after the position (before it when going back), in the list's order."""
    alternatives = []
    for index, (key, value) in enumerate(zip(keys, values, strict=True)):
        ties = [earlier.column == tied for earlier, tied in zip(keys[:index], values[:index], strict=True)]
        smaller = key.descending == forward
        alternatives.append(and_(*ties, key.column < value if smaller else key.column > value))
    return or_(*alternatives)


def keyset_page(
    query: Select[*tuple[Any, ...]],
    keys: Sequence[SortKey],
    key_of: Callable[[Any], Sequence[Any]],
    *,
    list_name: str,
    cursor: str | None,
    limit: int,
    scalars: bool = False,
) -> Page[Any]:
    """One page of ``query`` in the order of ``keys``, from ``cursor`` (the first page without one).

    ``key_of`` reads the key values from a result row (or object, with ``scalars``).
    """
    forward, values = (True, []) if not cursor else decode_cursor(list_name, cursor, len(keys))
    # Going back reads the rows before the position nearest first, then turns them round.
    order = [key.column.desc() if key.descending == forward else key.column.asc() for key in keys]
    if values:
        query = query.where(_beyond(keys, values, forward))
    statement = query.order_by(*order).limit(limit + 1)
    result = db.session.scalars(statement) if scalars else db.session.execute(statement)
    rows = list(result.unique().all() if scalars else result.all())
    more = len(rows) > limit
    rows = rows[:limit]
    if not forward:
        rows.reverse()
    has_next = more if forward else True
    has_previous = bool(values) if forward else more
    if not rows:
        # Past the end (or the rows went away): offer the way back to where the cursor pointed.
        back = encode_cursor(list_name, not forward, values) if values else None
        return Page(rows=[], next_cursor=None if forward else back, previous_cursor=back if forward else None)
    return Page(
        rows=rows,
        next_cursor=encode_cursor(list_name, True, key_of(rows[-1])) if has_next else None,
        previous_cursor=encode_cursor(list_name, False, key_of(rows[0])) if has_previous else None,
    )


def page_url(cursor: str) -> str:
    """The page being shown, its filters kept, at ``cursor`` (the pages' Next and Previous links)."""
    kept = [(name, value) for name, value in request.args.items(multi=True) if name != "cursor"]
    return f"{request.path}?{urlencode([*kept, ('cursor', cursor)])}"
