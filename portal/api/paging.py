"""The API's lists: ``?limit=&cursor=`` (and ``q``, ``updated_since`` where a list has them), answered
with the page's rows and a ``next`` link. The paging itself is :mod:`portal.listing`'s, as on the pages."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

from flask import request
from sqlalchemy import ColumnElement, Select, SQLColumnExpression

from portal.api.bodies import Field, Integer, Query
from portal.api.errors import ApiError
from portal.api.openapi import DOCUMENT, PREFIX, error_response
from portal.listing import MAX_SEARCH, Page, SortKey, clean_search, contains, keyset_page

DEFAULT_LIMIT = 100
MAX_LIMIT = 500
_CURSOR_ERROR = "`cursor` is not a cursor of this list (garbage, cut short, or another list's)."


class Opaque(Field):
    """Any text, checked by whoever reads it (a cursor is refused with a 400 of its own)."""

    def json_type(self) -> str:
        return "string"

    def base_schema(self) -> dict[str, Any]:
        return {"maxLength": 2000}

    def check_value(self, value: Any) -> str:
        return str(value)


class Search(Field):
    def json_type(self) -> str:
        return "string"

    def base_schema(self) -> dict[str, Any]:
        return {"maxLength": MAX_SEARCH}

    def check_value(self, value: Any) -> str:
        return str(value)


def list_query(noun: str, *, search: str | None = None, updated_since: bool = False, **more: Field) -> Query:
    """The query parameters of a paged list of ``noun``; ``search`` says what ``q`` is matched against."""
    fields: dict[str, Field] = {
        "limit": Integer(
            description=f"{noun.capitalize()} per page, 1 to {MAX_LIMIT} ({DEFAULT_LIMIT} when left out).",
            maximum=MAX_LIMIT,
        ),
        "cursor": Opaque(
            description="Where the page starts: take the `next` link of the previous answer (or its cursor);"
            " leave out for the first page. A cursor belongs to one list; any other value is a 400."
        ),
    }
    if search is not None:
        fields["q"] = Search(
            description=f"Only {noun} whose {search} contains this text, in any letter case, any script;"
            " `%` and `_` are taken literally."
        )
    if updated_since:
        fields["updated_since"] = Opaque(
            description="Only rows changed at or after this time (RFC 3339, e.g. 2026-11-01T00:00:00Z): "
            "keep the time a sync started and pass it next time."
        )
    fields.update(more)
    return Query(fields)


def document_list(path: str) -> None:
    """Add the 400 a foreign or broken cursor answers to a list operation's documentation."""
    operation = DOCUMENT["paths"][PREFIX + path]["get"]
    operation["responses"].setdefault("400", error_response(_CURSOR_ERROR))


def updated_since(query: dict[str, Any]) -> datetime | None:
    raw = query.get("updated_since")
    if raw is None:
        return None
    try:
        moment = datetime.fromisoformat(str(raw).strip().replace("Z", "+00:00"))
    except ValueError:
        moment = None
    if moment is None or moment.tzinfo is None:
        raise ApiError(
            422,
            "invalid",
            "Some query parameters are missing or not valid.",
            {"updated_since": "Write a time with its offset, e.g. 2026-11-01T00:00:00Z."},
        )
    return moment.astimezone(UTC)


def since_filter(
    column: SQLColumnExpression[datetime | None], query: dict[str, Any]
) -> ColumnElement[bool] | None:
    moment = updated_since(query)
    return None if moment is None else column >= moment


def next_link(page: Page[Any]) -> str | None:
    """This request's address with the next page's cursor; None on the last page."""
    if page.next_cursor is None:
        return None
    args = [
        (name, value) for name, value in request.args.items(multi=True) if name not in ("cursor", "after")
    ]
    return f"{request.path}?{urlencode([*args, ('cursor', page.next_cursor)])}"


def searched_page(
    rows: Select[Any],
    query: dict[str, Any],
    *,
    search_text: SQLColumnExpression[str],
    updated_at: SQLColumnExpression[datetime | None],
    keys: Sequence[SortKey],
    key_of: Callable[[Any], Sequence[Any]],
    list_name: str,
) -> Page[Any]:
    """One page of a list of objects: ``q`` found in ``search_text``, ``updated_since`` against
    ``updated_at``, at this request's ``cursor`` and ``limit``."""
    if term := clean_search(query.get("q")):
        rows = rows.where(contains(search_text, term))
    if (changed := since_filter(updated_at, query)) is not None:
        rows = rows.where(changed)
    return keyset_page(
        rows,
        keys,
        key_of,
        list_name=list_name,
        cursor=query.get("cursor"),
        limit=query.get("limit", DEFAULT_LIMIT),
        scalars=True,
    )
