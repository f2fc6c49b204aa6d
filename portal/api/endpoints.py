"""``@endpoint``: one declaration wires an API route, its token check, its body, its commit and
its OpenAPI operation, so that what the document promises is what the code does.

    @endpoint("POST", "/seats/{seat_id}/assign", roles=WRITERS, body=ASSIGN, ok_schema="Seat", ...)
    def assign(seat_id: int, body: dict[str, Any]) -> dict[str, Any]:
        ...   # call services (they flush); return the JSON; never commit

- ``{name_id}`` path parameters are positive integers (an id too large to exist is a 404);
  other path parameters are strings.
- GET views only read. A POST runs inside :func:`portal.api.idempotency.idempotent`; PATCH, PUT
  and DELETE views are committed by :func:`portal.api.idempotency.commit_changes`. A view that
  raises (ServiceError, ApiError) commits nothing.
- The view returns the JSON body (a dict) for ``ok_status``; ``ok_status=204`` returns None; a
  view with another ``ok_media_type`` returns its ``Response``.
- ``query=Query({...})`` documents and checks query parameters (422 naming the bad one).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar

from flask import Response, jsonify

from portal.accounts.models import Role
from portal.api import bp, openapi
from portal.api.auth import EVERYONE, token_required
from portal.api.bodies import MAX_ID, Body, Query
from portal.api.idempotency import commit_changes, idempotent
from portal.errors import NotFound

F = TypeVar("F", bound=Callable[..., Any])

_PATH_PARAMETER = re.compile(r"\{([a-z_]+)\}")


def _flask_rule(path: str) -> str:
    def convert(match: re.Match[str]) -> str:
        name = match.group(1)
        return f"<int:{name}>" if name.endswith("_id") else f"<{name}>"

    return _PATH_PARAMETER.sub(convert, path)


def endpoint(
    method: str,
    path: str,
    *,
    summary: str,
    tag: str,
    roles: tuple[Role, ...] = EVERYONE,
    ok_status: int = 200,
    ok_schema: str | None = None,
    ok_description: str = "OK.",
    ok_media_type: str = openapi.JSON,
    body: Body | None = None,
    query: Query | None = None,
    client_scoped: bool = False,
    conflict: str | None = None,
    description: str = "",
) -> Callable[[F], F]:
    """Register the decorated function as ``method path`` under /api/v1 and document it.

    ``client_scoped`` operations act for one client (see :func:`portal.api.auth.acting_client`)
    and take ``?client=``; ``conflict`` says when the operation answers 409. With ``query`` the
    view gets the checked query parameters as ``query``. A view answering something other than
    JSON (a PDF, a CSV) sets ``ok_media_type`` and returns a ``Response``.
    """
    method = method.upper()
    path_params = _PATH_PARAMETER.findall(path)

    def decorator(view: F) -> F:
        @wraps(view)
        def answer(**kwargs: Any) -> Response:
            for name in path_params:
                if name.endswith("_id") and not 1 <= kwargs[name] <= MAX_ID:
                    raise NotFound("There is nothing at this address.")
            if query is not None:
                kwargs["query"] = query.parse()
            if body is not None:
                kwargs["body"] = body.parse()
            result = view(**kwargs)
            if isinstance(result, Response):
                return result
            if ok_status == 204:
                return Response(status=204)
            response = jsonify(result)
            response.status_code = ok_status
            return response

        if method == "POST":
            handled: Callable[..., Any] = idempotent(answer)
        elif method in ("PATCH", "PUT", "DELETE"):

            @wraps(answer)
            def handled(**kwargs: Any) -> Response:
                response = answer(**kwargs)
                commit_changes()
                return response

        else:
            handled = answer
        bp.add_url_rule(
            _flask_rule(path),
            endpoint=view.__name__,
            view_func=token_required(*roles)(handled),
            methods=[method],
        )
        openapi.add_operation(
            path,
            method,
            openapi.build_operation(
                operation_id=view.__name__,
                method=method,
                path_params=path_params,
                summary=summary,
                description=description,
                tag=tag,
                roles=tuple(role.value for role in roles),
                all_roles=set(roles) == set(EVERYONE),
                ok_status=ok_status,
                ok_schema=ok_schema,
                ok_description=ok_description,
                ok_media_type=ok_media_type,
                body=body,
                query=query,
                client_scoped=client_scoped,
                idempotent=method == "POST",
                conflict=conflict,
            ),
        )
        return view

    return decorator
