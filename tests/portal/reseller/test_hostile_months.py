"""Months and dates people type: every box, URL and query answers with a message or a 404, never a 500."""

from __future__ import annotations

import pytest

from metering import Commitment, parse_day, parse_period
from portal.db import db
from portal.errors import InvalidInput

HOSTILE = ["9999-12", "0001-01", "2026-13", "2026-00", "abc", "1999-12", "2101-01", "2026-1", "9" * 10_000]
HOSTILE_DAYS = ["9999-12-31", "0001-01-01", "2026-13-01", "2026-02-30", "abc", "1999-12-31", "2" * 10_000]


@pytest.mark.parametrize("text", HOSTILE)
def test_the_parser_refuses_out_of_range_months_with_a_short_message(text):
    with pytest.raises(InvalidInput) as refused:
        parse_period(text)
    assert len(refused.value.message) < 120  # quotes a short excerpt, never the whole input


def test_the_parser_takes_the_range_it_names():
    assert str(parse_period(" 2000-01 ")) == "2000-01" and str(parse_period("2100-12")) == "2100-12"
    assert str(parse_day("2100-12-31")) == "2100-12-31"
    for text in HOSTILE_DAYS:
        with pytest.raises(InvalidInput):
            parse_day(text)


def _urls(month: str) -> list[str]:
    return [
        f"/reseller/review/{month}",
        f"/reseller/review/{month}/invoices/1",
        f"/reseller/spla/{month}",
        f"/reseller/spla/{month}/report.csv",
        f"/reseller/exports/{month}",
        f"/reseller/exports/{month}/quickbooks-online.csv",
        f"/reseller/exports/{month}/quickbooks-desktop.iif",
        f"/reseller/review/{month}/close-status.json",
    ]


@pytest.mark.parametrize("month", HOSTILE)
def test_no_month_in_a_url_or_a_picker_gives_a_500(client, business, admin, month):
    for url in _urls(month):
        assert client.get(url).status_code == 404, url
    for picker in ("/reseller/review/", "/reseller/spla/", "/reseller/exports/"):
        answer = client.get(picker, query_string={"period": month})
        assert answer.status_code == 422, picker
        assert len(answer.get_data(as_text=True)) < 40_000  # the error does not echo 10,000 characters


@pytest.mark.parametrize("day", HOSTILE_DAYS)
def test_no_date_in_the_audit_filter_gives_a_500(client, business, staff, day):
    for query in ({"since": day}, {"until": day}, {"since": day, "until": day}):
        answer = client.get("/reseller/audit/", query_string=query)
        assert answer.status_code == 422, query
    assert "out of range" not in client.get("/reseller/audit/?since=2026-10-01&until=2026-10-31").get_data(
        as_text=True
    )


def test_the_audit_filter_says_the_range(client, business, staff):
    page = client.get("/reseller/audit/?since=9999-12-31&until=9999-12-31").get_data(as_text=True)
    assert "Choose a date from 2000-01-01 to 2100-12-31." in page


@pytest.mark.parametrize("month", HOSTILE)
def test_a_commitment_month_out_of_range_is_refused(client, business, admin, month):
    for fields in ({"starts": month}, {"starts": "2026-10", "ends": month}):
        answer = client.post(
            "/reseller/trueups/commitments",
            data={"client": business.acme.ref, "product": "desktop", "quantity": "3", **fields},
            follow_redirects=True,
        )
        assert answer.status_code == 200
        assert "month close bills at least" not in answer.get_data(as_text=True)
    assert db.session.query(Commitment).count() == 0


def test_a_commitment_starting_in_9999_is_refused_with_the_range(client, business, admin):
    page = client.post(
        "/reseller/trueups/commitments",
        data={"client": business.acme.ref, "product": "desktop", "quantity": "3", "starts": "9999-12"},
        follow_redirects=True,
    ).get_data(as_text=True)
    assert "choose a month from 2000-01 to 2100-12" in page
