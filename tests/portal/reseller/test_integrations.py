"""The console's Integrations pages: add a tool, map its ids (the unmapped ones listed first), create
and revoke its tokens, and choose peak or average for per-device products."""

from __future__ import annotations

from sqlalchemy import select

from metering import Sender, SnapshotAggregate, SnapshotRule, UnmappedSources, ingest_usage_events
from portal.accounts.integration_services import create_integration, note_unmapped_sources
from portal.accounts.models import ApiToken, Integration, Role, SourceMapping, UnmappedSource
from portal.accounts.token_services import authenticate_api_token
from portal.audit.services import Actor
from portal.catalog.services import get_product
from portal.db import db

SETUP = Actor.system("tests")


def test_admin_adds_a_tool_maps_an_unmapped_id_and_gets_a_token_shown_once(client, admin, make_client):
    make_client("acme", "Acme Law LLP")

    added = client.post("/reseller/integrations/", data={"source": "ninjaone", "name": "NinjaOne RMM"})
    assert added.status_code == 302
    integration = db.session.scalars(select(Integration)).one()

    # The tool sends usage for an id nobody mapped: refused, and the id is listed on the console.
    try:
        ingest_usage_events(
            SETUP,
            [{"id": "e-1", "external_org": "org-17", "user": "a@acme.example", "product": "desktop",
              "action": "start", "at": "2026-10-01T09:00:00Z"}],
            sender=Sender.of_integration(integration),
        )  # fmt: skip
    except UnmappedSources as error:
        db.session.rollback()
        note_unmapped_sources(error.integration_id, error.external_orgs)
        db.session.commit()
    page = client.get("/reseller/integrations/ninjaone").get_data(as_text=True)
    assert "Organisation ids to map" in page and "<code>org-17</code>" in page

    assert db.session.scalars(select(SourceMapping)).all() == []
    (waiting,) = db.session.scalars(select(UnmappedSource)).all()
    mapped = client.post(
        f"/reseller/integrations/ninjaone/unmapped/{waiting.id}",
        data={f"u{waiting.id}-external_org": "org-17", f"u{waiting.id}-client": "acme"},
    )
    assert mapped.status_code == 302, mapped.get_data(as_text=True)
    page = client.get("/reseller/integrations/ninjaone").get_data(as_text=True)
    assert "Nothing to map" in page and "Acme Law LLP" in page

    created = client.post("/reseller/integrations/ninjaone/tokens", data={"name": "nightly"})
    shown = created.get_data(as_text=True)
    assert created.status_code == 200 and 'id="new-token"' in shown
    raw = shown.split('<code class="token">')[1].split("</code>")[0]
    token = authenticate_api_token(raw)
    assert token is not None and token.role is Role.INTEGRATION
    assert raw not in client.get("/reseller/integrations/ninjaone").get_data(as_text=True)

    revoked = client.post(f"/reseller/integrations/ninjaone/tokens/{token.id}/revoke")
    assert revoked.status_code == 302
    db.session.expire_all()
    assert db.session.scalars(select(ApiToken.revoked_at)).one() is not None
    assert authenticate_api_token(raw) is None


def test_a_bad_source_name_is_explained_not_a_500(client, admin):
    response = client.post("/reseller/integrations/", data={"source": "Ninja One!", "name": "x"})

    assert response.status_code == 422
    assert "lowercase letters" in response.get_data(as_text=True)


def test_staff_sees_the_pages_but_changes_nothing(client, staff, catalog):
    create_integration(SETUP, "datto", "Datto RMM")
    db.session.commit()

    assert client.get("/reseller/integrations/").status_code == 200
    page = client.get("/reseller/integrations/datto").get_data(as_text=True)
    assert "Create a token" not in page
    assert client.post("/reseller/integrations/datto/tokens", data={"name": "x"}).status_code == 403
    assert client.post("/reseller/integrations/", data={"source": "x1", "name": "x"}).status_code == 403
    assert client.get("/reseller/integrations/nobody").status_code == 404


def test_admin_bills_a_per_device_product_on_its_average(client, admin, catalog):
    minutes = get_product("voip-minutes")

    response = client.post(
        f"/reseller/integrations/devices/{minutes.id}", data={f"p{minutes.id}-aggregate": "average"}
    )

    assert response.status_code == 302
    assert db.session.get(SnapshotRule, minutes.id).aggregate is SnapshotAggregate.AVERAGE
    assert "the month's average" in client.get("/reseller/integrations/").get_data(as_text=True)
