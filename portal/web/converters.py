"""URL converters of the whole application."""

from __future__ import annotations

from typing import Any

from werkzeug.routing import IntegerConverter, Map

from portal.api.bodies import MAX_ID


class RowIdConverter(IntegerConverter):
    """``<int:…>`` that matches only ids a database row can have.

    A larger number in a URL (``/client/seats/99999999999999999999``) is "not found" at the router:
    passed on, it overflows the database driver's integer and ends in a 500.
    """

    def __init__(self, map: Map, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("max", MAX_ID)
        super().__init__(map, *args, **kwargs)
