"""The reseller's profile, tax rates and each client's billing details and tax, on the console.

Bad input (a tax rate of 150 %, a logo that is not an image or is over 1 MB) is a clear error and
nothing is saved.
"""

from __future__ import annotations

import io

from PIL import Image
from sqlalchemy import func, select

from metering.billing.models import Invoice
from metering.billing.queries import parse_period
from metering.billing.runs import close_in_one_transaction
from metering.settings import billing_timezone
from metering.tax.models import ClientTax, TaxRate
from portal.accounts.models import Reseller, Role
from portal.accounts.services import get_reseller
from portal.audit.models import AuditEvent
from portal.audit.services import Actor
from portal.db import db, utcnow


def _png(size: tuple[int, int] = (40, 20)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, (20, 90, 160)).save(buffer, format="PNG")
    return buffer.getvalue()


def _profile(**changes):
    data = {
        "name": "Northwind Managed IT Ltd",
        "address": "1 Harbour Road\nBristol BS1 4ST",
        "tax_id": "GB123456789",
        "support_email": "help@northwind-it.example",
        "support_phone": "+44 117 000 0000",
        "payment_instructions": "Northwind Managed IT Ltd\nIBAN GB33 BUKB 2020 1555 5555 55",
        "invoice_prefix": "NW-",
        "payment_terms_days": "30",
    }
    data.update(changes)
    return data


def _reseller() -> Reseller:
    db.session.expire_all()
    reseller = get_reseller()
    assert reseller is not None
    return reseller


def test_the_admin_sets_the_profile_with_a_logo(client, business, admin):
    page = client.post(
        "/reseller/profile",
        data={**_profile(), "logo": (io.BytesIO(_png()), "logo.png")},
        content_type="multipart/form-data",
        follow_redirects=True,
    )

    assert page.status_code == 200 and "Profile saved" in page.get_data(as_text=True)
    reseller = _reseller()
    assert reseller.name == "Northwind Managed IT Ltd" and reseller.payment_terms_days == 30
    assert reseller.invoice_prefix == "NW-" and reseller.logo_mimetype == "image/png"
    assert 'id="current-logo"' in page.get_data(as_text=True)
    assert db.session.scalar(
        select(func.count()).select_from(AuditEvent).where(AuditEvent.action == "reseller.profile_changed")
    )


def test_a_file_that_is_not_an_image_is_refused_and_nothing_is_saved(client, business, admin):
    client.post("/reseller/profile", data=_profile())

    page = client.post(
        "/reseller/profile",
        data={
            **_profile(name="Renamed Ltd", invoice_prefix="XX-"),
            "logo": (io.BytesIO(b"%PDF-1.7 not an image at all"), "logo.png"),
        },
        content_type="multipart/form-data",
    )

    assert page.status_code == 422
    assert "Choose a PNG or JPEG image." in page.get_data(as_text=True)
    reseller = _reseller()
    assert (reseller.name, reseller.invoice_prefix, reseller.logo) == (
        "Northwind Managed IT Ltd",
        "NW-",
        None,
    )


def test_a_logo_over_1_mb_is_refused_and_nothing_is_saved(client, business, admin):
    # A real PNG whose pixels do not compress: well over 1 MB.
    noisy = Image.frombytes("RGB", (700, 700), bytes(range(256)) * (700 * 700 * 3 // 256 + 1))
    buffer = io.BytesIO()
    noisy.save(buffer, format="PNG", compress_level=0)
    assert buffer.tell() > 1024 * 1024

    client.post("/reseller/profile", data=_profile())

    page = client.post(
        "/reseller/profile",
        data={**_profile(invoice_prefix="XX-"), "logo": (io.BytesIO(buffer.getvalue()), "big.png")},
        content_type="multipart/form-data",
    )

    assert page.status_code == 422 and "At most 1 MB." in page.get_data(as_text=True)
    reseller = _reseller()
    assert reseller.logo is None and reseller.invoice_prefix == "NW-"


def test_staff_cannot_open_or_change_the_profile(client, business, staff):
    assert client.get("/reseller/profile").status_code == 403
    assert client.post("/reseller/profile", data=_profile()).status_code == 403


def test_a_tax_rate_of_150_percent_is_refused_and_nothing_is_saved(client, business, admin):
    page = client.post("/reseller/tax-rates", data={"name": "VAT", "percentage": "150", "jurisdiction": "PL"})

    assert page.status_code == 422
    assert "Must be between 0 and 100 %." in page.get_data(as_text=True)
    assert db.session.scalar(select(func.count()).select_from(TaxRate)) == 0


def test_nonsense_percentages_are_refused(client, business, admin):
    for typed in ("abc", "23.12345", "-5", "1e2"):
        page = client.post(
            "/reseller/tax-rates", data={"name": "VAT", "percentage": typed, "jurisdiction": "PL"}
        )
        assert page.status_code == 422, typed
    assert db.session.scalar(select(func.count()).select_from(TaxRate)) == 0


def test_the_admin_adds_a_rate_and_assigns_it_to_a_client(client, business, admin):
    added = client.post(
        "/reseller/tax-rates",
        data={"name": "VAT", "percentage": "19,1234", "inclusive": "y", "jurisdiction": "DE"},
        follow_redirects=True,
    ).get_data(as_text=True)
    assert "VAT 19.1234 % (included)" in added
    rate = db.session.scalars(select(TaxRate)).one()
    assert rate.rate_ppm == 191_234 and rate.inclusive

    page = client.post(
        "/reseller/clients/acme/billing/tax", data={"tax_rate": str(rate.id)}, follow_redirects=True
    )
    assert "its next invoice uses it" in page.get_data(as_text=True)
    assert db.session.get(ClientTax, business.acme.id).tax_rate_id == rate.id

    exempt_without_reason = client.post(
        "/reseller/clients/acme/billing/tax", data={"tax_rate": str(rate.id), "exempt": "y"}
    )
    assert exempt_without_reason.status_code == 422
    assert "Required when the client is exempt." in exempt_without_reason.get_data(as_text=True)
    assert client.post("/reseller/clients/acme/billing/tax", data={"tax_rate": "999999"}).status_code == 422
    assert client.post("/reseller/clients/acme/billing/tax", data={"tax_rate": "x'; drop"}).status_code == 422


def test_the_reseller_edits_a_clients_billing_details(client, business, admin):
    page = client.post(
        "/reseller/clients/acme/billing/details",
        data={
            "billing_email": "ap@acme.example",
            "extra_billing_emails": "cfo@acme.example\nbooks@acme.example",
            "billing_address": "12 Main St\nSpringfield",
            "tax_id": "US-12-3456789",
        },
        follow_redirects=True,
    )

    assert "Billing details of Acme Law LLP saved." in page.get_data(as_text=True)
    db.session.expire_all()
    assert business.acme.billing_address == "12 Main St\nSpringfield"
    assert business.acme.extra_billing_emails == "cfo@acme.example\nbooks@acme.example"
    bad = client.post(
        "/reseller/clients/acme/billing/details",
        data={"billing_email": "ap@acme.example", "extra_billing_emails": "not an address"},
    )
    assert bad.status_code == 422 and "Not a valid e-mail address." in bad.get_data(as_text=True)


def test_the_client_admin_edits_its_own_billing_details(client, business, make_user, login):
    login(make_user(Role.CLIENT_ADMIN, business.acme))

    form = client.get("/client/billing-details")
    page = client.post(
        "/client/billing-details",
        data={"billing_email": "ap@acme.example", "billing_address": "ul. Łódzka 7\nKraków", "tax_id": "PL1"},
        follow_redirects=True,
    ).get_data(as_text=True)

    assert form.status_code == 200
    assert "Billing details saved" in page and "ul. Łódzka 7, Kraków" in page


def test_the_bill_under_review_shows_its_tax(client, business, admin):
    client.post("/reseller/tax-rates", data={"name": "VAT", "percentage": "20", "jurisdiction": "UK"})
    rate = db.session.scalars(select(TaxRate)).one()
    client.post("/reseller/clients/acme/billing/tax", data={"tax_rate": str(rate.id)})
    # The close's re-run rebuilds October's draft with the tax.
    close_in_one_transaction(Actor.for_user(admin), parse_period("2026-10"), billing_timezone(), utcnow())
    db.session.commit()
    invoice = db.session.scalars(
        select(Invoice).where(Invoice.client_id == business.acme.id, Invoice.period == "2026-10")
    ).one()

    page = client.get(f"/reseller/review/2026-10/invoices/{invoice.id}").get_data(as_text=True)

    assert invoice.tax_minor > 0
    assert f"tax ${invoice.tax_minor // 100}.{invoice.tax_minor % 100:02d}" in page
