"""The month close of the common client counted, rated and written by the database in two statements.

Most clients of a month bill nothing but per-user products: no commitment, no metered usage, no
device counts, no late changes to a finalized month, no tax, and no draft yet. For a batch of such
clients :func:`write_set_based` does what :func:`metering.rating.rate_seat_products` and the draft
writer do, in SQL: distinct users plus seats in service with nobody (unless a person held the seat)
per client and product, quantity x the month's price, the same words, the same line order, one
``INSERT … SELECT`` for the invoices and one for their lines. Every other client (and every client
when some product has no price for the month, or prices are in more than one currency) goes through
the pure Python rating. ``tests/metering/billing/test_close_set_based.py`` closes randomized months
both ways and compares every column.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import bindparam, text
from sqlalchemy.engine import Dialect

from metering.billing import lifecycle
from metering.billing.close import ClosePlan
from metering.rating import Price
from portal.db import UTCDateTime, db, utcnow

# Per (client, product): the month's distinct people, and seats in service with nobody that no
# person held in the month (metering.counting.count_product_users and count_unassigned_seats).
_COUNTED = """
WITH overlapping AS (
    SELECT client_id, product_id, user_key, seat_id
    FROM licence_intervals
    WHERE client_id IN :clients AND start_at < :stop AND (stop_at IS NULL OR stop_at > :start)
), held_seats AS (
    SELECT DISTINCT seat_id FROM overlapping WHERE user_key IS NOT NULL AND seat_id IS NOT NULL
), counted AS (
    SELECT o.client_id, o.product_id,
        count(DISTINCT o.user_key) AS users,
        count(DISTINCT CASE WHEN o.user_key IS NULL AND h.seat_id IS NULL THEN o.seat_id END) AS seats
    FROM overlapping o LEFT JOIN held_seats h ON h.seat_id = o.seat_id
    GROUP BY o.client_id, o.product_id
)
"""


# Fewer common clients than this in a batch are rated in Python: for a handful the two statements'
# planning costs about what rating them does, and a small close (a test, a reseller with a few
# clients) keeps to one path, where a client's failure shows with its reason.
SET_BASED_FROM = 50


def common_clients(plan: ClosePlan, client_ids: Sequence[int]) -> list[int]:
    """The clients of ``client_ids`` whose month the set-based close bills exactly as rating would.

    Empty when there are fewer than :data:`SET_BASED_FROM` of them.
    """
    if not set_based_possible(plan):
        return []
    special = (plan.invoiced, plan.usage, plan.devices, plan.restate_from, plan.commitments, plan.taxes)
    common = [client_id for client_id in client_ids if not any(client_id in found for found in special)]
    return common if len(common) >= SET_BASED_FROM else []


def set_based_possible(plan: ClosePlan) -> bool:
    """Every product has a price for the month, all in one currency: no line can need Python's errors."""
    catalog = plan.catalog
    return set(catalog.product_ids) <= set(catalog.prices) and (
        len({price.currency for price in catalog.prices.values()}) <= 1
    )


def _number(dialect: Dialect, column: str) -> str:
    """``column`` in words as Python's ``f"{n:,}"`` writes it (thousands with commas)."""
    if dialect.name == "postgresql":
        grouped = f"to_char({column}, 'FM999,999,999,999,990')"
    else:
        grouped = f"printf('%,d', {column})"
    return f"(CASE WHEN {column} < 1000 THEN CAST({column} AS TEXT) ELSE {grouped} END)"


def _plural(dialect: Dialect, column: str, singular: str, plural: str) -> str:
    return f"{_number(dialect, column)} || CASE WHEN {column} = 1 THEN ' {singular}' ELSE ' {plural}' END"


def _prices_sql(prices: dict[int, tuple[str, str, Price]]) -> tuple[str, dict[str, object]]:
    """The month's price list as rows the statements join (a handful of products)."""
    rows, params = [], {}
    for n, (product_id, (code, name, price)) in enumerate(sorted(prices.items())):
        rows.append(
            f"SELECT :pid{n} AS product_id, :code{n} AS code, :name{n} AS name, "
            f":amount{n} AS amount_minor, :currency{n} AS currency"
        )
        params.update(
            {
                f"pid{n}": product_id,
                f"code{n}": code,
                f"name{n}": name,
                f"amount{n}": price.amount_minor,
                f"currency{n}": price.currency,
            }
        )
    return " UNION ALL ".join(rows), params


def write_set_based(plan: ClosePlan, client_ids: Sequence[int]) -> set[int]:
    """Write the drafts of these common clients (:func:`common_clients`); the clients that got one.

    A client with nothing to bill gets no draft (as with rating). The caller's transaction (its
    batch's SAVEPOINT) holds the rows.
    """
    if not client_ids:
        return set()
    session = db.session
    session.flush()
    dialect = session.get_bind().dialect
    catalog = plan.catalog
    prices = {
        product_id: (code, catalog.names.get(code, code), catalog.prices[code])
        for code, product_id in catalog.product_ids.items()
    }
    price_rows, params = _prices_sql(prices)
    users = _plural(dialect, "c.users", "user", "users")
    seats = _plural(dialect, "c.seats", "seat", "seats") + " || ' in service with nobody assigned'"
    # metering.rating._held_by in SQL.
    held_by = (
        f"CASE WHEN c.seats = 0 THEN {users} WHEN c.users = 0 THEN {seats} "
        f"ELSE {users} || ' and ' || {seats} END"
    )
    # Python sorts product codes by code point: so does the "C" collation.
    order = 'p.code COLLATE "C"' if dialect.name == "postgresql" else "p.code"
    rated = f"""{_COUNTED}, prices AS ({price_rows}), rated AS (
        SELECT c.client_id, c.product_id, c.users + c.seats AS quantity, p.amount_minor, p.currency,
            p.name || ' — ' || {held_by} || ', ' || :label AS description,
            row_number() OVER (PARTITION BY c.client_id ORDER BY {order}) - 1 AS position
        FROM counted c JOIN prices p ON p.product_id = c.product_id
        WHERE c.users + c.seats > 0
    )"""  # nosec B608  # built from constants; every value is bound
    params.update(
        {
            "label": plan.period.label,
            "period": str(plan.period),
            "status": lifecycle.new_draft_values(0, plan.period)["status"].value,
        }
    )
    stamp = UTCDateTime()
    bound = [
        bindparam("clients", value=list(client_ids), expanding=True),
        bindparam("start", value=plan.start, type_=stamp),
        bindparam("stop", value=plan.stop, type_=stamp),
    ]
    stamped = [
        bindparam("built_at", value=plan.built_at, type_=stamp),
        bindparam("created_at", value=utcnow(), type_=stamp),
    ]
    invoices = text(
        f"""INSERT INTO invoices (client_id, period, status, currency, total_minor, subtotal_minor,
            tax_minor, starts_at, ends_at, built_at, created_at, payment_attempts, number_prefix)
        {rated}
        SELECT client_id, :period, :status, min(currency), sum(quantity * amount_minor),
            sum(quantity * amount_minor), 0, :start, :stop, :built_at, :created_at, 0, ''
        FROM rated GROUP BY client_id
        RETURNING client_id"""  # nosec B608  # built from constants; every value is bound
    ).bindparams(*bound, *stamped)
    written = {client_id for (client_id,) in session.execute(invoices, params)}
    if written:
        lines = text(
            f"""INSERT INTO invoice_lines (invoice_id, position, kind, product_id, period, quantity,
                unit_amount_minor, amount_minor, currency, description, tax_minor, tax_inclusive)
            {rated}
            SELECT i.id, r.position, 'regular', r.product_id, :period, r.quantity, r.amount_minor,
                r.quantity * r.amount_minor, r.currency, r.description, 0, false
            FROM rated r JOIN invoices i ON i.client_id = r.client_id AND i.period = :period"""  # nosec B608  # as above
        ).bindparams(*bound)
        session.execute(lines, params)
    return written


__all__ = ["SET_BASED_FROM", "common_clients", "set_based_possible", "write_set_based"]
