"""Strict request bodies: one declaration gives both the parser and the OpenAPI schema.

Because the schema in ``/api/v1/openapi.json`` is generated from the same declaration that checks
the request, the document cannot drift from the behaviour. A body that is not JSON, not an object,
has a field of the wrong type or a field nobody asked for is a 400; a missing field or a value out
of range is a 422. Either way ``fields`` says which field and what is wrong with it.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from flask import request

from portal.api.errors import ApiError

MAX_ID = 2**31 - 1  # ids are 32-bit integers in the database; larger ones cannot exist
# One line of text with at least one visible character (no control characters, not blank).
ONE_LINE = r"[^\x00-\x1f\x7f]*[^\s\x00-\x1f\x7f][^\x00-\x1f\x7f]*"
CLIENT_REF = r"[a-z0-9][a-z0-9-]{1,30}[a-z0-9]"


class WrongType(Exception):
    """Raised by a field's check: the value has the wrong JSON type (a 400)."""


class InvalidValue(Exception):
    """Raised by a field's check: the value has the right type but is not acceptable (a 422)."""


# The first names of the two exceptions, still used by modules written against them.
_WrongType = WrongType
_Invalid = InvalidValue


@dataclass(frozen=True, kw_only=True)
class Field:
    description: str
    required: bool = False
    nullable: bool = False

    def json_type(self) -> str:
        raise NotImplementedError

    def base_schema(self) -> dict[str, Any]:
        return {}

    def schema(self) -> dict[str, Any]:
        json_type: str | list[str] = self.json_type()
        if self.nullable:
            json_type = [str(json_type), "null"]
        return {"type": json_type, **self.base_schema(), "description": self.description}

    def check(self, value: Any) -> Any:
        if value is None:
            if self.nullable:
                return None
            raise WrongType("Must not be null.")
        return self.check_value(value)

    def check_value(self, value: Any) -> Any:
        raise NotImplementedError


@dataclass(frozen=True, kw_only=True)
class Text(Field):
    max_length: int
    # Matched against the whole value; written so that it means the same to Python and to
    # JSON Schema (ECMA-262) tools.
    pattern: str = ONE_LINE
    problem: str = "Use one line of text."

    def json_type(self) -> str:
        return "string"

    def base_schema(self) -> dict[str, Any]:
        return {"minLength": 1, "maxLength": self.max_length, "pattern": f"^(?:{self.pattern})$"}

    def check_value(self, value: Any) -> str:
        if not isinstance(value, str):
            raise WrongType("Must be a string.")
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            raise InvalidValue("Contains characters that are not allowed.") from None
        if not value:
            raise InvalidValue("Must not be empty.")
        if len(value) > self.max_length:
            raise InvalidValue(f"Use at most {self.max_length} characters.")
        if not re.fullmatch(self.pattern, value):
            raise InvalidValue(self.problem)
        return value


@dataclass(frozen=True, kw_only=True)
class Integer(Field):
    minimum: int = 1
    maximum: int = MAX_ID

    def json_type(self) -> str:
        return "integer"

    def base_schema(self) -> dict[str, Any]:
        return {"minimum": self.minimum, "maximum": self.maximum}

    def check_value(self, value: Any) -> int:
        # bool is an int in Python, but true is not a number in JSON.
        if not isinstance(value, int) or isinstance(value, bool):
            raise WrongType("Must be a whole number.")
        if not self.minimum <= value <= self.maximum:
            raise InvalidValue(f"Must be from {self.minimum} to {self.maximum}.")
        return value


@dataclass(frozen=True, kw_only=True)
class IdList(Field):
    """A list of distinct ids."""

    max_items: int

    def json_type(self) -> str:
        return "array"

    def base_schema(self) -> dict[str, Any]:
        return {
            "items": {"type": "integer", "minimum": 1, "maximum": MAX_ID},
            "maxItems": self.max_items,
            "uniqueItems": True,
        }

    def check_value(self, value: Any) -> list[int]:
        if not isinstance(value, list) or any(
            not isinstance(item, int) or isinstance(item, bool) for item in value
        ):
            raise WrongType("Must be a list of whole numbers.")
        if len(value) > self.max_items:
            raise InvalidValue(f"At most {self.max_items}.")
        if len(set(value)) != len(value):
            raise InvalidValue("Each one at most once.")
        if any(not 1 <= item <= MAX_ID for item in value):
            raise InvalidValue(f"Ids are from 1 to {MAX_ID}.")
        return value


def client_field() -> Text:
    return Text(
        description="The client's reference. Required with a reseller token; a client token may "
        "leave it out or name its own client.",
        max_length=32,
        pattern=CLIENT_REF,
        problem="Use 3 to 32 lowercase letters, digits or hyphens.",
    )


def _no_constants(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def _no_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result = dict(pairs)
    if len(result) != len(pairs):
        raise ValueError("a field appears twice")
    return result


def read_json() -> Any:
    """The request's JSON, or a 400 that says why it is not JSON (``None`` for no body at all)."""
    raw = request.get_data(cache=True)
    if not raw.strip():
        return None
    try:
        return json.loads(raw, parse_constant=_no_constants, object_pairs_hook=_no_duplicate_keys)
    except (ValueError, RecursionError) as error:
        raise ApiError(400, "bad_request", f"The body is not valid JSON: {error}.") from None


class Body:
    """A JSON object body with exactly these fields (no others)."""

    def __init__(self, fields: dict[str, Field], description: str = "") -> None:
        self.fields = fields
        self.description = description

    @property
    def required(self) -> bool:
        return any(field.required for field in self.fields.values())

    def schema(self) -> dict[str, Any]:
        schema: dict[str, Any] = {
            "type": "object",
            "additionalProperties": False,
            "properties": {name: field.schema() for name, field in self.fields.items()},
        }
        required = [name for name, field in self.fields.items() if field.required]
        if required:
            schema["required"] = required
        if self.description:
            schema["description"] = self.description
        return schema

    def parse(self) -> dict[str, Any]:
        """The checked fields of the request body; fields left out are absent from the result."""
        data = read_json()
        if data is None:
            data = {}
        if not isinstance(data, dict):
            raise ApiError(400, "bad_request", "The body must be a JSON object.")
        wrong = {key: "Unknown field." for key in data if key not in self.fields}
        invalid: dict[str, str] = {}
        values: dict[str, Any] = {}
        for name, field in self.fields.items():
            if name not in data:
                if field.required:
                    invalid[name] = "Required."
                continue
            try:
                values[name] = field.check(data[name])
            except WrongType as error:
                wrong[name] = str(error)
            except InvalidValue as error:
                invalid[name] = str(error)
        if wrong:
            raise ApiError(
                400, "bad_request", "The body has unknown fields or fields of the wrong type.", wrong
            )
        if invalid:
            raise ApiError(422, "invalid", "Some fields are missing or not valid.", invalid)
        return values


class Query:
    """Query-string parameters. Values are text; an :class:`Integer` field takes digits. Any
    problem with them, a missing required one included, is a 422 naming the parameter."""

    def __init__(self, fields: dict[str, Field]) -> None:
        self.fields = fields

    def parameters(self) -> list[dict[str, Any]]:
        """The OpenAPI ``parameters`` entries."""
        parameters = []
        for name, field in self.fields.items():
            schema = field.schema()
            description = schema.pop("description")
            parameters.append(
                {
                    "name": name,
                    "in": "query",
                    "required": field.required,
                    "description": description,
                    "schema": schema,
                }
            )
        return parameters

    def parse(self) -> dict[str, Any]:
        """The checked parameters of the request; those left out are absent from the result."""
        values: dict[str, Any] = {}
        invalid: dict[str, str] = {}
        for name, field in self.fields.items():
            raw = request.args.get(name)
            if raw is None:
                if field.required:
                    invalid[name] = "Required."
                continue
            value: Any = raw
            if isinstance(field, Integer):
                if not re.fullmatch(r"-?[0-9]{1,12}", raw):
                    invalid[name] = "Must be a whole number."
                    continue
                value = int(raw)
            try:
                values[name] = field.check(value)
            except (WrongType, InvalidValue) as error:
                invalid[name] = str(error)
        if invalid:
            raise ApiError(422, "invalid", "Some query parameters are missing or not valid.", invalid)
        return values
