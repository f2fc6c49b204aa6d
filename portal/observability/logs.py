"""Request ids, and logs as one JSON object a line when ``LOG_FORMAT=json``.

Every request gets an id: the caller's ``X-Request-ID`` when it sends a sane one (a load balancer
or another service tracing a call), else a new one; the response echoes it, so a person reporting
a problem and the log lines of that request can be matched. Each JSON line carries the request id,
the Celery task id inside a task, and the user id and client ref once the request knows them.
"""

from __future__ import annotations

import logging
import re
import sys
import uuid
from typing import Any

from celery import current_task, signals
from flask import Flask, Response, g, has_request_context, request
from pythonjsonlogger.json import JsonFormatter
from sqlalchemy import inspect
from sqlalchemy.orm.base import NO_VALUE

REQUEST_ID_HEADER = "X-Request-ID"
# Long enough for a UUID or a W3C trace id; only characters that cannot forge a log line.
_SANE_REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")
_HANDLER_NAME = "seatmeter-json"


def _assign_request_id() -> None:
    offered = request.headers.get(REQUEST_ID_HEADER, "")
    g.request_id = offered if _SANE_REQUEST_ID.fullmatch(offered) else uuid.uuid4().hex


def _echo_request_id(response: Response) -> Response:
    request_id = g.get("request_id")
    if request_id is not None:
        response.headers[REQUEST_ID_HEADER] = request_id
    return response


def _loaded(instance: object, attribute: str) -> Any:
    """An attribute already in memory, or None: a log call must never run SQL of its own."""
    try:
        value = inspect(instance).attrs[attribute].loaded_value
    except Exception:  # not a mapped object, no such attribute
        return None
    return None if value is NO_VALUE else value


class ContextFilter(logging.Filter):
    """Adds what is known about the current request or task to each record."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            # current_task is a proxy: false outside a task.
            if current_task and current_task.request.id is not None:
                record.task_id = current_task.request.id
                record.task_name = current_task.name
            if has_request_context():
                self._add_request(record)
        except Exception:  # nosec B110  # a log line must never be lost to its optional context (the line is worth more than its context: never lose it)
            pass
        return True

    @staticmethod
    def _add_request(record: logging.LogRecord) -> None:
        request_id = g.get("request_id")
        if request_id is not None:
            record.request_id = request_id
        # Flask-Login's user, and the API's token, only when this request already loaded them.
        principal = g.get("_login_user") or g.get("api_token")
        if principal is None or not getattr(principal, "is_authenticated", True):
            return
        if g.get("_login_user") is principal:
            record.user_id = _loaded(principal, "id")
        else:
            record.api_token_id = _loaded(principal, "id")
        client_id = _loaded(principal, "client_id")
        if client_id is not None:
            record.client_id = client_id
        client = _loaded(principal, "client")
        ref = _loaded(client, "ref") if client is not None else None
        if ref is not None:
            record.client_ref = ref


def json_formatter() -> JsonFormatter:
    return JsonFormatter(
        "%(levelname)s %(name)s %(message)s",
        rename_fields={"levelname": "level", "name": "logger"},
        timestamp="time",
    )


def use_json_logs() -> None:
    """Every log line that reaches the root logger (ours, Flask's, Celery's) as JSON on stderr."""
    root = logging.getLogger()
    handler = next((h for h in root.handlers if h.get_name() == _HANDLER_NAME), None)
    if handler is None:
        handler = logging.StreamHandler(sys.stderr)
        handler.set_name(_HANDLER_NAME)
        handler.setFormatter(json_formatter())
        handler.addFilter(ContextFilter())
        root.addHandler(handler)
    if root.level == logging.WARNING:  # the default: ours say INFO
        root.setLevel(logging.INFO)
    # gunicorn gives its own loggers text handlers before it loads the app; its lines become JSON
    # lines too (they do not propagate, so ours goes on them directly).
    for name in ("gunicorn.error", "gunicorn.access"):
        logger = logging.getLogger(name)
        if logger.handlers and handler not in logger.handlers:
            for other in list(logger.handlers):
                logger.removeHandler(other)
            logger.addHandler(handler)
            logger.propagate = False  # as gunicorn has it: one line, not two
    # The text handler create_app gives "seatmeter" would print each line a second time.
    seatmeter = logging.getLogger("seatmeter")
    for other in list(seatmeter.handlers):
        seatmeter.removeHandler(other)
    seatmeter.propagate = True


def _celery_keeps_our_logging(**_: Any) -> None:
    """Celery's worker would replace the root handlers with its own text format; keep ours."""
    use_json_logs()


_celery_connected = False


def init_logs(app: Flask) -> None:
    app.before_request_funcs.setdefault(None, []).insert(0, _assign_request_id)
    app.after_request(_echo_request_id)
    if app.config.get("LOG_FORMAT") == "json":
        use_json_logs()
        global _celery_connected
        if not _celery_connected:
            # With a receiver on setup_logging, Celery leaves logging alone (its documented hook).
            signals.setup_logging.connect(_celery_keeps_our_logging, weak=False)
            _celery_connected = True
