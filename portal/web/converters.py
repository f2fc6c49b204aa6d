"""URL converters of the whole application: a path parameter that no row could have is "not
found" at the router, before any view passes it on to the database and fails there with a 500."""

from __future__ import annotations

from typing import Any

from werkzeug.routing import IntegerConverter, Map, PathConverter, UnicodeConverter

from portal.api.bodies import MAX_ID

# PostgreSQL refuses NUL in text, even in the parameters of a lookup ("PostgreSQL text fields
# cannot contain NUL (0x00) bytes"); no name in a URL contains one.
_NUL = "\\x00"


def digits_at_most(limit: int) -> str:
    """A regular expression for the decimal numbers from 0 to ``limit`` (leading zeros allowed)."""
    text = str(limit)
    choices = [rf"\d{{1,{len(text) - 1}}}"] if len(text) > 1 else []
    for position, digit in enumerate(text):
        if digit != "0":
            rest = len(text) - position - 1
            choices.append(f"{text[:position]}[0-{int(digit) - 1}]" + (rf"\d{{{rest}}}" if rest else ""))
    choices.append(text)
    return "(?:" + "|".join(choices) + ")"


class RowIdConverter(IntegerConverter):
    """``<int:…>`` matching only numbers a row id can be (a larger one overflowed the driver).

    The limit is in the regular expression, not in ``to_python``: a rule whose conversion fails
    still counts as matching the path, and Werkzeug would answer 405 instead of 404 when another
    method has a rule on the same path.
    """

    regex = digits_at_most(MAX_ID)

    def __init__(self, map: Map, *args: Any, **kwargs: Any) -> None:
        super().__init__(map, *args, **kwargs)
        self.regex = digits_at_most(MAX_ID)


class TextConverter(UnicodeConverter):
    """``<name>``: any text without a slash or a NUL."""

    def __init__(self, map: Map, *args: Any, **kwargs: Any) -> None:
        super().__init__(map, *args, **kwargs)
        self.regex = self.regex.replace("[^/]", f"[^/{_NUL}]")


class TextPathConverter(PathConverter):
    """``<path:name>``: any text without a NUL, slashes included."""

    regex = f"[^/{_NUL}][^{_NUL}]*?"


def install_converters(map: Map) -> None:
    """Before any rule is added: rules pick their converters when they are added."""
    map.converters["int"] = RowIdConverter
    map.converters["default"] = TextConverter
    map.converters["string"] = TextConverter
    map.converters["path"] = TextPathConverter
