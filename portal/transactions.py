"""Where a unit of work ends: one way to commit at each kind of edge.

Services only ``flush()``; the edge commits (docs/architecture.md, "one commit per unit of work"). There are
three kinds of edge and one helper each, all built on :func:`_unit_of_work`:

* a web view wraps its call to services in ``with web_transaction() as attempt:`` — commit on
  success; on a :class:`~portal.errors.ServiceError` roll back and hand the error to the view
  (``attempt.error``), which renders it the way it always has (flash, form errors, status).
  ``web_transaction(renders=())`` lets every error through, for views that catch their own or let
  the app's error page answer. (The JSON API commits in ``portal.api.idempotency``, the one place
  its ``@endpoint`` views end; it answers errors as JSON rather than rendering them.)
* a Celery task wraps each unit of work in ``with task_transaction():`` (or decorates a function
  with ``@task_transaction()``) — commit on success, roll back and re-raise anything, so Celery's
  retry logic still sees the error;
* a CLI command is decorated with ``@cli_command`` (or wraps a step in ``with cli_transaction():``)
  — commit on success, a plain message instead of a traceback on a service or database error.

Anything registered with :func:`portal.db.after_commit` (jobs, e-mails) runs after the commit, and
never after a rollback.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import wraps
from typing import Any, TypeVar

import click
from sqlalchemy.exc import OperationalError, ProgrammingError

from portal.db import db
from portal.errors import ServiceError

F = TypeVar("F", bound=Callable[..., Any])


@contextmanager
def _unit_of_work() -> Iterator[None]:
    """Commit when the block ends normally; roll back (and re-raise) on any exception."""
    try:
        yield
        db.session.commit()
    except BaseException:
        # Also reached when the commit itself fails: the session must not keep the broken
        # transaction for whatever runs next in this app context.
        db.session.rollback()
        raise


@dataclass
class Attempt:
    """What a view's unit of work came to: ``error`` is the service's refusal, or None if committed."""

    error: ServiceError | None = None

    @property
    def failed(self) -> bool:
        return self.error is not None


@contextmanager
def web_transaction(
    renders: tuple[type[ServiceError], ...] = (ServiceError,),
) -> Iterator[Attempt]:
    """For web views: commit the block, or roll it back and keep the ServiceError for the view.

    ``renders`` are the refusals the view shows to the person itself (flash, form errors, its own
    status); anything else is rolled back and raised as before (the app's error page, or the
    view's own ``except`` around the block). ``renders=()`` hands every error to the caller.
    """
    attempt = Attempt()
    try:
        with _unit_of_work():
            yield attempt
    except renders as error:
        attempt.error = error


@contextmanager
def task_transaction() -> Iterator[None]:
    """For Celery tasks: one unit of work, as ``with task_transaction():`` or ``@task_transaction()``.

    Commits on success; rolls back and re-raises on any error, so that ``self.retry`` and
    ``acks_late`` work as usual. A task with several units of work (Stripe is called between
    them, never inside a transaction) uses one block per unit.
    """
    with _unit_of_work():
        yield


@contextmanager
def cli_transaction() -> Iterator[None]:
    """For CLI commands: commit the block; a service or database error becomes a plain message."""
    try:
        with _unit_of_work():
            yield
    except ServiceError as error:
        details = "".join(
            f"\n  {name}: {message}" for name, message in error.fields.items() if message != error.message
        )
        raise click.ClickException(error.message + details) from None
    except (OperationalError, ProgrammingError) as error:
        if "no such table" in str(error) or "does not exist" in str(error):
            raise click.ClickException(
                "The database has no tables yet. Run `flask --app wsgi db upgrade` first."
            ) from None
        raise click.ClickException(f"The database refused the change: {error.orig}") from None


def cli_command(func: F) -> F:
    """Run a whole command as one :func:`cli_transaction`."""

    @wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        with cli_transaction():
            return func(*args, **kwargs)

    return wrapper  # type: ignore[return-value]


__all__ = ["Attempt", "cli_command", "cli_transaction", "task_transaction", "web_transaction"]
