"""Two invoices of one client pushed to Stripe at once each get exactly their own lines.

The pushes run in one thread: the second one is run to the end right after Stripe created the
first invoice's first item (an HTTP client around the real one makes them overlap there, while that
item exists in Stripe and the first push has not finished). With items
created as pending and swept by ``pending_invoice_items_behavior=include``, the second invoice took
the first one's items; items added to their own invoice by id cannot be taken.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
import stripe
from sqlalchemy import select

from metering.billing import tasks
from metering.billing.models import Invoice, InvoiceStatus
from metering.billing.stripe_push import stripe_client
from metering.billing.tasks import push_invoice_now
from portal.db import db
from tests.metering.billing.test_stripe import add_card
from tests.metering.months import event


class Overlapping(stripe.RequestsClient):
    """Runs ``meanwhile`` once, as soon as Stripe has answered the first invoice-item request."""

    def __init__(self, meanwhile: Callable[[], object]) -> None:
        super().__init__()
        self.meanwhile: Callable[[], object] | None = meanwhile

    def request(self, method: str, url: str, headers: Any, post_data: Any = None, **kwargs: Any) -> Any:
        answer = super().request(method, url, headers, post_data, **kwargs)
        if self.meanwhile is not None and method == "post" and url.endswith("/v1/invoiceitems"):
            run, self.meanwhile = self.meanwhile, None
            run()
        return answer


@pytest.fixture
def two_finalized_invoices(app, stripe_env, make_client, month, travel) -> list[Invoice]:
    app.config.update(STRIPE_API_KEY=stripe_env.api_key, STRIPE_API_BASE=stripe_env.api_base)
    acme = make_client("acme", "Acme Law LLP")
    db.session.commit()
    add_card(acme)
    month.events(
        event("e1", "acme", "alice@acme.example", "desktop", "start", "2026-10-03T09:00:00Z"),
        event("e2", "acme", "bob@acme.example", "exchange", "start", "2026-10-04T09:00:00Z"),
        event("e3", "acme", "carol@acme.example", "desktop", "start", "2026-11-04T09:00:00Z"),
    )
    travel("2026-12-02T12:00:00Z")
    for period in ("2026-10", "2026-11"):
        month.close(period)
        month.finalize(period)
    invoices = list(db.session.scalars(select(Invoice).order_by(Invoice.period)))
    assert [invoice.status for invoice in invoices] == [InvoiceStatus.FINALIZED] * 2
    assert invoices[0].total_minor != invoices[1].total_minor
    return invoices


def test_two_invoices_of_one_client_pushed_at_once_each_get_their_own_lines(
    app, two_finalized_invoices, monkeypatch
):
    october, november = two_finalized_invoices
    results: dict[str, str] = {}
    overlapping = Overlapping(lambda: results.setdefault("november", push_invoice_now(november.id)))
    # The client the product builds (the library's own API version), with the overlapping HTTP
    # client underneath.
    monkeypatch.setattr(
        tasks,
        "stripe_client",
        lambda: stripe.StripeClient(
            app.config["STRIPE_API_KEY"],
            base_addresses={"api": app.config["STRIPE_API_BASE"]},
            http_client=overlapping,
        ),
    )

    results["october"] = push_invoice_now(october.id)

    assert results == {"october": "paid", "november": "paid"}
    api = stripe_client()
    for invoice in (october, november):
        db.session.refresh(invoice)
        assert invoice.status is InvoiceStatus.PAID
        remote = api.v1.invoices.retrieve(invoice.stripe_invoice_id)
        assert remote.amount_paid == invoice.total_minor
        assert sorted(line.metadata["seatmeter_invoice"] for line in remote.lines.data) == [
            str(invoice.id)
        ] * len(invoice.lines)
