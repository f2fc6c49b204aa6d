"""``flask --app wsgi catalog set-price CODE AMOUNT [--from YYYY-MM]``: a price from a month on."""

from __future__ import annotations

import pytest

from portal.catalog.services import get_product
from portal.db import db
from tests.metering.months import Month, event


def _history() -> list[tuple[str, int]]:
    db.session.expire_all()
    return [(row.effective_from, row.amount_minor) for row in get_product("desktop").prices]


def test_set_price_takes_effect_next_month_by_default(runner, catalog, time_machine):
    time_machine.move_to("2026-11-02T12:00:00Z")

    result = runner.invoke(args=["catalog", "set-price", "desktop", "45"])

    assert result.exit_code == 0, result.output
    assert result.output.strip() == "desktop costs $45.00 a month from December 2026."
    assert _history() == [("2000-01", 3900), ("2026-12", 4500)]


def test_set_price_from_a_named_month(runner, catalog, time_machine):
    time_machine.move_to("2026-11-02T12:00:00Z")

    result = runner.invoke(args=["catalog", "set-price", "desktop", "45", "--from", "2026-11"])

    assert result.exit_code == 0, result.output
    assert _history() == [("2000-01", 3900), ("2026-11", 4500)]


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["desktop", "45", "--from", "2026-13"], "“2026-13” is not a month: write YYYY-MM"),
        (["desktop", "45", "--from", "next"], "“next” is not a month: write YYYY-MM"),
        (["desktop", "-5"], "The amount must be zero or more."),
        (["desktop", "-5", "--from", "2026-12"], "The amount must be zero or more."),
    ],
)
def test_bad_input_is_a_one_line_error_and_nothing_is_saved(runner, catalog, args, says):
    result = runner.invoke(args=["catalog", "set-price", *args])

    assert result.exit_code == 1
    assert len(result.output.strip().splitlines()) == 1
    assert says in result.output
    assert _history() == [("2000-01", 3900)]


def test_a_month_with_finalized_invoices_is_refused(runner, catalog, make_client, time_machine):
    make_client("acme")
    month = Month()
    month.events(event("a1", "acme", "alice@acme.example", "desktop", "start", "2026-10-03T09:00:00Z"))
    time_machine.move_to("2026-11-02T12:00:00Z")
    month.close("2026-10")
    month.finalize("2026-10")

    result = runner.invoke(args=["catalog", "set-price", "desktop", "45", "--from", "2026-10"])

    assert result.exit_code == 1
    assert result.output.strip() == (
        "Error: 2026-10 has finalized invoices, so prices up to it can no longer change; "
        "choose 2026-11 or later."
    )
    assert _history() == [("2000-01", 3900)]
