"""Rating: what the client sees on the invoice, to the cent."""

import dataclasses
from datetime import UTC, datetime
from fractions import Fraction

import pytest
from hypothesis import given
from hypothesis import strategies as st

from metering.counting import LicenceInterval, count_product_users
from metering.periods import BillingPeriod
from metering.rating import (
    InvoiceLineDraft,
    Price,
    TaxedTotals,
    TaxRule,
    invoice_total,
    line_tax,
    rate_metered_usage,
    rate_seat_products,
    taxed_totals,
)

OCTOBER = BillingPeriod(2026, 10)

PRICE_BOOK = {
    "desktop": Price(3900, "USD"),
    "desktop-pro": Price(4900, "USD"),
    "exchange": Price(800, "USD"),
    "exchange-plus": Price(1200, "USD"),
    "voip": Price(2200, "USD"),
    "voip-minutes": Price(2, "USD"),
}

NAMES = {
    "desktop": "Hosted Desktop",
    "desktop-pro": "Hosted Desktop Pro",
    "exchange": "Exchange Mailbox",
    "exchange-plus": "Exchange Mailbox Plus",
    "voip": "VoIP Seat",
    "voip-minutes": "VoIP minutes",
}


def test_three_desktop_users_at_39_dollars_is_117_dollars():
    lines = rate_seat_products(
        {("acme-law", "desktop"): frozenset({"alice@acme.test", "bob@acme.test", "carol@acme.test"})},
        PRICE_BOOK,
        OCTOBER,
        NAMES,
    )
    assert lines == [
        InvoiceLineDraft(
            client="acme-law",
            product="desktop",
            period="2026-10",
            quantity=3,
            unit_amount_minor=3900,
            amount_minor=11700,
            currency="USD",
            description="Hosted Desktop — 3 users, October 2026",
        )
    ]
    assert invoice_total(lines) == 11700


def test_small_office_invoice_total():
    product_users = {
        ("acme-law", "desktop"): {"alice@acme.test", "bob@acme.test"},
        ("acme-law", "desktop-pro"): {"alice@acme.test"},
        ("acme-law", "exchange"): {"alice@acme.test", "bob@acme.test", "carol@acme.test"},
        ("acme-law", "exchange-plus"): {"dave@acme.test"},
        ("acme-law", "voip"): {"carol@acme.test", "dave@acme.test"},
    }
    lines = rate_seat_products(product_users, PRICE_BOOK, OCTOBER, NAMES)
    # 2 x 39.00 + 1 x 49.00 + 3 x 8.00 + 1 x 12.00 + 2 x 22.00 = 207.00
    assert [(line.product, line.quantity, line.amount_minor) for line in lines] == [
        ("desktop", 2, 7800),
        ("desktop-pro", 1, 4900),
        ("exchange", 3, 2400),
        ("exchange-plus", 1, 1200),
        ("voip", 2, 4400),
    ]
    assert invoice_total(lines) == 20700


def test_single_user_reads_singular():
    lines = rate_seat_products({("acme-law", "exchange"): ["alice@acme.test"]}, PRICE_BOOK, OCTOBER, NAMES)
    assert lines[0].description == "Exchange Mailbox — 1 user, October 2026"


def test_description_falls_back_to_product_code():
    lines = rate_seat_products({("acme-law", "exchange"): ["alice@acme.test"]}, PRICE_BOOK, OCTOBER)
    assert lines[0].description == "exchange — 1 user, October 2026"


def test_duplicate_users_in_a_list_count_once():
    lines = rate_seat_products(
        {("acme-law", "desktop"): ["alice@acme.test", "alice@acme.test", "bob@acme.test"]},
        PRICE_BOOK,
        OCTOBER,
    )
    assert (lines[0].quantity, lines[0].amount_minor) == (2, 7800)


def test_zero_quantity_lines_are_omitted():
    lines = rate_seat_products(
        {("acme-law", "desktop"): frozenset(), ("acme-law", "exchange"): {"alice@acme.test"}},
        PRICE_BOOK,
        OCTOBER,
    )
    assert [line.product for line in lines] == ["exchange"]


def test_lines_are_ordered_by_client_then_product():
    product_users = {
        ("zeta-clinic", "desktop"): {"a"},
        ("acme-law", "voip"): {"a"},
        ("acme-law", "desktop"): {"a"},
        ("bayside", "exchange"): {"a"},
    }
    lines = rate_seat_products(product_users, PRICE_BOOK, OCTOBER)
    assert [(line.client, line.product) for line in lines] == [
        ("acme-law", "desktop"),
        ("acme-law", "voip"),
        ("bayside", "exchange"),
        ("zeta-clinic", "desktop"),
    ]


def test_product_missing_from_price_book_raises_naming_it():
    with pytest.raises(KeyError, match="sharepoint"):
        rate_seat_products({("acme-law", "sharepoint"): {"alice@acme.test"}}, PRICE_BOOK, OCTOBER)
    with pytest.raises(KeyError, match="fax-pages"):
        rate_metered_usage({("acme-law", "fax-pages"): 10}, PRICE_BOOK, OCTOBER)


def test_metered_voip_minutes():
    lines = rate_metered_usage(
        {("acme-law", "voip-minutes"): 1234, ("bayside", "voip-minutes"): 0}, PRICE_BOOK, OCTOBER, NAMES
    )
    assert lines == [
        InvoiceLineDraft(
            client="acme-law",
            product="voip-minutes",
            period="2026-10",
            quantity=1234,
            unit_amount_minor=2,
            amount_minor=2468,
            currency="USD",
            description="VoIP minutes — 1,234 units, October 2026",
        )
    ]


def test_metered_usage_rejects_negative_and_non_integer_quantities():
    with pytest.raises(ValueError, match="negative"):
        rate_metered_usage({("acme-law", "voip-minutes"): -1}, PRICE_BOOK, OCTOBER)
    with pytest.raises(TypeError, match="int"):
        rate_metered_usage({("acme-law", "voip-minutes"): 12.5}, PRICE_BOOK, OCTOBER)


def test_seat_and_usage_lines_total_together():
    seats = rate_seat_products(
        {("acme-law", "voip"): {"alice@acme.test", "bob@acme.test"}}, PRICE_BOOK, OCTOBER
    )
    usage = rate_metered_usage({("acme-law", "voip-minutes"): 300}, PRICE_BOOK, OCTOBER)
    assert invoice_total(seats + usage) == 4400 + 600


def test_invoice_total_of_nothing_is_zero():
    assert invoice_total([]) == 0


def test_invoice_total_rejects_mixed_currencies():
    usd = rate_seat_products({("acme-law", "desktop"): {"a"}}, PRICE_BOOK, OCTOBER)
    eur = rate_seat_products({("acme-law", "desktop"): {"a"}}, {"desktop": Price(3600, "EUR")}, OCTOBER)
    with pytest.raises(ValueError, match="EUR, USD"):
        invoice_total(usd + eur)


def test_price_is_integer_minor_units_with_iso_currency():
    with pytest.raises(TypeError, match="int"):
        Price(39.0, "USD")
    with pytest.raises(ValueError, match="negative"):
        Price(-1, "USD")
    with pytest.raises(ValueError, match="ISO 4217"):
        Price(3900, "usd")
    with pytest.raises(ValueError, match="ISO 4217"):
        Price(3900, "$")


def test_line_amount_must_equal_quantity_times_unit():
    line = rate_seat_products({("acme-law", "desktop"): {"a", "b"}}, PRICE_BOOK, OCTOBER)[0]
    with pytest.raises(ValueError, match="amount"):
        dataclasses.replace(line, amount_minor=7801)
    with pytest.raises(ValueError, match="billing period"):
        dataclasses.replace(line, period="2026-13")


@given(
    product_users=st.dictionaries(
        st.tuples(st.sampled_from(["acme-law", "bayside", "zeta"]), st.sampled_from(sorted(PRICE_BOOK))),
        st.frozensets(st.text(min_size=1, max_size=4), max_size=40),
    )
)
def test_total_is_sum_of_users_times_price(product_users):
    lines = rate_seat_products(product_users, PRICE_BOOK, OCTOBER)
    expected = sum(
        len(users) * PRICE_BOOK[product].amount_minor for (_c, product), users in product_users.items()
    )
    assert invoice_total(lines) == expected
    assert all(line.quantity > 0 for line in lines)
    assert lines == sorted(lines, key=lambda line: (line.client, line.product))
    assert rate_seat_products(dict(reversed(product_users.items())), PRICE_BOOK, OCTOBER) == lines


def test_counting_feeds_rating_for_a_reassigned_seat():
    intervals = [
        LicenceInterval(
            "acme-law",
            "alice@acme.test",
            "desktop",
            datetime(2026, 9, 1, tzinfo=UTC),
            datetime(2026, 10, 14, 12, tzinfo=UTC),
        ),
        LicenceInterval("acme-law", "bob@acme.test", "desktop", datetime(2026, 10, 14, 12, tzinfo=UTC)),
    ]
    lines = rate_seat_products(
        count_product_users(intervals, *OCTOBER.bounds(UTC)), PRICE_BOOK, OCTOBER, NAMES
    )
    assert [(line.description, line.amount_minor) for line in lines] == [
        ("Hosted Desktop — 2 users, October 2026", 7800)
    ]


def test_seats_in_service_with_nobody_bill_one_unit_each_beside_the_users():
    lines = rate_seat_products(
        {("acme-law", "voip"): frozenset({"alice@acme.test"})},
        PRICE_BOOK,
        OCTOBER,
        NAMES,
        unassigned_seats={("acme-law", "voip"): frozenset({7, 8}), ("bright", "voip"): frozenset({9})},
    )

    assert [(line.client, line.quantity, line.amount_minor, line.description) for line in lines] == [
        ("acme-law", 3, 6600, "VoIP Seat — 1 user and 2 seats in service with nobody assigned, October 2026"),
        ("bright", 1, 2200, "VoIP Seat — 1 seat in service with nobody assigned, October 2026"),
    ]


def test_seats_in_service_with_nobody_count_towards_a_commitment():
    lines = rate_seat_products(
        {("acme-law", "voip"): frozenset({"alice@acme.test"})},
        PRICE_BOOK,
        OCTOBER,
        NAMES,
        commitments={("acme-law", "voip"): 2},
        unassigned_seats={("acme-law", "voip"): frozenset({7, 8})},
    )

    assert [(line.quantity, line.amount_minor) for line in lines] == [(2, 4400), (1, 2200)]
    assert lines[1].description == "VoIP Seat — true-up: 1 unit above the commitment, October 2026"


# --- tax: per line, in integer minor units, rounded half up ------------------------------------------

VAT_23 = TaxRule("VAT", 230_000, inclusive=False)


@pytest.mark.parametrize(
    ("amount", "rate_ppm", "tax"),
    [
        (3900, 230_000, 897),  # 23 % of 39.00 is exactly 8.97
        (250, 10_000, 3),  # 1 % of 2.50 is 0.025: half up gives 0.03 (banker's rounding would give 0.02)
        (150, 10_000, 2),  # 0.015 → 0.02
        (350, 10_000, 4),  # 0.035 → 0.04 (banker's: also 0.04; the two agree on odd halves)
        (249, 10_000, 2),  # 0.0249 → 0.02
        (-250, 10_000, -3),  # a credit is rounded like the charge it cancels
        (999, 191_234, 191),  # 19.1234 % of 9.99 = 1.9104... → 1.91
        (0, 230_000, 0),
    ],
)
def test_exclusive_tax_is_rounded_half_up_on_each_line(amount, rate_ppm, tax):
    assert line_tax(amount, TaxRule("T", rate_ppm, inclusive=False)) == tax


def test_inclusive_tax_is_the_part_of_the_amount_that_is_tax():
    # 123.00 including 23 % VAT holds exactly 23.00 of tax.
    assert line_tax(12300, TaxRule("VAT", 230_000, inclusive=True)) == 2300
    # 10.00 including 23 %: 10 x 0.23 / 1.23 = 1.8699... → 1.87
    assert line_tax(1000, TaxRule("VAT", 230_000, inclusive=True)) == 187


def test_totals_add_exclusive_tax_and_keep_inclusive_tax_inside():
    lines = [
        InvoiceLineDraft.priced("acme", "desktop", OCTOBER, 3, Price(3900, "EUR"), "Desktop"),
        InvoiceLineDraft.priced("acme", "exchange", OCTOBER, 5, Price(805, "EUR"), "Mailbox"),
    ]

    added = taxed_totals(lines, VAT_23)
    included = taxed_totals(lines, TaxRule("VAT", 230_000, inclusive=True))
    untaxed = taxed_totals(lines, None)

    # Per line, then summed: 23 % of 117.00 is 26.91, of 40.25 is 9.2575 → 9.26.
    assert added.line_taxes == (2691, 926) and added.tax_minor == 3617
    assert added.subtotal_minor == 15725 and added.total_minor == 15725 + 3617
    assert included.total_minor == 15725 and included.tax_minor == 2188 + 753
    assert untaxed == TaxedTotals(15725, (0, 0), 0, 15725)


@given(
    amounts=st.lists(st.integers(min_value=-(10**9), max_value=10**9), min_size=1, max_size=20),
    rate_ppm=st.integers(min_value=0, max_value=1_000_000),
)
def test_line_tax_is_within_half_a_minor_unit_of_the_exact_tax(amounts, rate_ppm):
    for amount in amounts:
        exact = Fraction(amount * rate_ppm, 1_000_000)
        assert abs(line_tax(amount, TaxRule("T", rate_ppm, inclusive=False)) - exact) <= Fraction(1, 2)
        assert line_tax(-amount, TaxRule("T", rate_ppm, inclusive=False)) == -line_tax(
            amount, TaxRule("T", rate_ppm, inclusive=False)
        )


def test_a_rate_above_100_percent_is_refused():
    with pytest.raises(ValueError, match=r"0\.\.1000000 \(0\.\.100 %\)"):
        TaxRule("T", 1_500_000, inclusive=False)
