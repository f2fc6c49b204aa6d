"""Access logs without secrets: the token of a one-time link is replaced before the line is written.

Password-reset, invitation and unlock links carry a token in their path; whoever reads the web
server's log must not be able to use them.
"""

from __future__ import annotations

import logging
import re
from typing import Any

from gunicorn.glogging import Logger

_ONE_TIME_LINK = re.compile(r"(/(?:password/reset|invitation|login/unlock)/)[^/?\s\"]+")


def redact(text: str) -> str:
    return _ONE_TIME_LINK.sub(r"\1[token]", text)


class RedactOneTimeLinks(logging.Filter):
    """The same for the development server's request lines (werkzeug's logger, `make run`)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            record.args = tuple(redact(arg) if isinstance(arg, str) else arg for arg in record.args)
        return True


class RedactingLogger(Logger):
    """gunicorn's logger, with one-time link tokens taken out of the request line and path."""

    def atoms(self, resp: Any, req: Any, environ: dict[str, Any], request_time: Any) -> dict[str, Any]:
        atoms = super().atoms(resp, req, environ, request_time)
        for key in ("r", "U"):
            if isinstance(atoms.get(key), str):
                atoms[key] = redact(atoms[key])
        return atoms
