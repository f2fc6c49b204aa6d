"""Drift made behind Seatmeter's back on each platform: found, settled as chosen, counted and billed once.

Each test plays the same months: the account appears on 15 September, September is closed and
finalized without it (nobody knew), the reseller settles the finding in October, and from then on the
SPLA report counts the person for September, October's invoice bills October plus an adjustment for
September, and nothing is found, adopted or billed a second time however often the run repeats.
"""

from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy import func, select

from portal.accounts.end_user_services import add_end_user
from portal.accounts.models import Role
from portal.catalog.services import get_product
from portal.db import db
from portal.orders.models import Seat, SeatState
from provisioning.trueup.models import FindingKind, FindingStatus, Settlement
from provisioning.trueup.settlements import proposed, set_policy, settle
from tests.metering.months import lines_of
from tests.provisioning.trueup.conftest import (
    BUNDLE,
    TESTS,
    add_ad_user,
    discover,
    findings,
    interval_count,
    trueup_intervals,
)

pytestmark = pytest.mark.slow


def found_twice(travel) -> object:
    """Two runs a few days apart: one open finding, first seen on the 15th, seen again on the 20th."""
    travel("2026-09-15T09:00:00Z")
    first = discover()
    travel("2026-09-20T09:00:00Z")
    again = discover()
    assert (first.summary["new"], again.summary["new"]) == (1, 0)
    (finding,) = findings()
    assert finding.status is FindingStatus.OPEN and finding.kind is FindingKind.UNBILLED
    assert (finding.first_seen_at.date(), finding.last_seen_at.date()) == (
        date(2026, 9, 15),
        date(2026, 9, 20),
    )
    return finding


def september_billed_without_it(month, travel) -> None:
    travel("2026-10-02T09:00:00Z")
    assert month.close("2026-09").complete
    month.finalize("2026-09")
    assert month.invoices("2026-09") == []  # the account was there, nobody billed it


def billed_once(month, travel, product: str, price: int) -> None:
    """October bills October and September's adjustment; re-runs and November bill nothing twice."""
    for _ in range(3):
        run = discover()
        assert run.summary["new"] == run.summary["reopened"] == run.summary["open"] == 0
    travel("2026-11-02T09:00:00Z")
    month.close("2026-10")
    october = month.invoice("acme", "2026-10")
    assert lines_of(october) == [(product, "2026-10", 1, price, price), (product, "2026-09", 1, price, price)]
    discover()
    assert month.close("2026-10").outcomes == {"unchanged": 1}
    month.finalize("2026-10")
    travel("2026-12-02T09:00:00Z")
    discover()
    month.close("2026-11")
    assert lines_of(month.invoice("acme", "2026-11")) == [(product, "2026-11", 1, price, price)]
    (finding,) = findings()
    assert finding.status is FindingStatus.SETTLED and finding.settlement is Settlement.ADOPT
    assert len(trueup_intervals()) == 1
    assert db.session.scalar(select(func.count(Seat.id))) == 1


def test_a_workspace_made_with_boto3_is_adopted_by_the_reseller(app, workspaces, acme, person, month, travel):
    travel("2026-09-15T08:00:00Z")
    person("dave")
    made = workspaces.client.create_workspaces(
        Workspaces=[{"DirectoryId": workspaces.ident, "UserName": "dave", "BundleId": BUNDLE}]
    )["PendingRequests"][0]
    finding = found_twice(travel)
    # A WorkSpace names only the sign-in name: dave is the one end user who signs in as "dave".
    assert (finding.client, finding.user_key, finding.account_id) == (
        acme,
        "dave@acme.example",
        made["WorkspaceId"],
    )
    assert finding.evidence["name"] == "dave" and finding.evidence["tags"] == {}
    assert proposed(finding) is Settlement.ADOPT
    september_billed_without_it(month, travel)

    travel("2026-10-05T09:00:00Z")
    settle(TESTS, finding, Settlement.ADOPT)
    db.session.commit()

    seat = finding.seat
    assert (seat.state, seat.external_id, seat.end_user.email) == (
        SeatState.ACTIVE,
        made["WorkspaceId"],
        "dave@acme.example",
    )
    ((user, start, stop),) = trueup_intervals()
    assert (user, start, stop.date()) == ("dave@acme.example", finding.first_seen_at, date(2026, 10, 5))
    assert month.spla("2026-09") == [("acme", "OFFSTD-SAL", 1), ("acme", "WINRDS-SAL", 1)]
    billed_once(month, travel, "desktop", 3900)


def test_a_mailbox_made_with_boto3_is_adopted_by_policy(app, workmail_platform, acme, person, month, travel):
    wm = workmail_platform
    travel("2026-09-15T08:00:00Z")
    person("alice")  # acme's people have @acme.example addresses: that is how erin maps to acme
    user_id = wm.client.create_user(OrganizationId=wm.ident, Name="erin@acme.example", DisplayName="Erin")[
        "UserId"
    ]
    wm.client.register_to_work_mail(OrganizationId=wm.ident, EntityId=user_id, Email=f"erin@{wm.mail_domain}")
    finding = found_twice(travel)
    assert (finding.client, finding.user_key) == (acme, "erin@acme.example")
    september_billed_without_it(month, travel)

    travel("2026-10-05T09:00:00Z")
    set_policy(TESTS, get_product("exchange"), {FindingKind.UNBILLED})
    db.session.commit()
    run = discover()  # the policy adopts it in the run

    assert run.summary["auto_settled"] == 1
    (finding,) = findings()
    assert (
        finding.settlement is Settlement.ADOPT
        and finding.settled_by == "true-up policy of Hosted Exchange Mailbox"
    )
    assert finding.seat.end_user.name == "Erin"  # added as an end user of acme
    assert month.spla("2026-09") == [("acme", "EXSTD-SAL", 1)]
    billed_once(month, travel, "exchange", 800)


def test_a_sip_subscriber_inserted_into_kamailio_is_adopted_from_the_command_line(
    app, sip, acme, month, travel, runner
):
    travel("2026-09-15T08:00:00Z")
    add_end_user(TESTS, acme, "Carol", "carol@acme.example", extension="1042")
    db.session.commit()
    sip.add_subscriber("1042", "secret-pass", domain=f"acme.{sip.domain}")
    finding = found_twice(travel)
    assert (finding.client, finding.account_id) == (acme, f"1042@acme.{sip.domain}")
    assert finding.evidence["named_client"] == "acme" and finding.evidence["table"] == "subscriber"
    september_billed_without_it(month, travel)

    travel("2026-10-05T09:00:00Z")
    result = runner.invoke(args=["trueup", "settle", str(finding.id), "adopt"])
    assert result.exit_code == 0, result.output

    (finding,) = findings()
    assert finding.seat.end_user.email == "carol@acme.example"  # the end user with that extension
    assert month.spla("2026-09") == []  # a VoIP seat carries no Microsoft licence
    billed_once(month, travel, "voip", 2200)


def test_a_user_added_to_the_rds_group_is_adopted_on_the_findings_page(
    app, ad, acme, month, travel, client, login, make_user
):
    travel("2026-09-15T08:00:00Z")
    add_ad_user(ad, "acme", "frank", "frank@acme.example")
    finding = found_twice(travel)
    assert (finding.client, finding.user_key, finding.evidence["named_client"]) == (
        acme,
        "frank@acme.example",
        "acme",
    )
    assert finding.evidence["group"].startswith("CN=acme-rds-users,OU=acme")
    september_billed_without_it(month, travel)

    travel("2026-10-05T09:00:00Z")
    login(make_user(Role.RESELLER_ADMIN))
    page = client.get("/reseller/trueups/").get_data(as_text=True)
    assert "frank@acme.example" in page and "acme-rds-users" in page and "Adopt as a seat" in page
    response = client.post(
        f"/reseller/trueups/{finding.id}/settle", data={"settlement": "adopt", "product": "desktop"}
    )
    assert response.status_code == 302

    (finding,) = findings()
    assert finding.status is FindingStatus.SETTLED and finding.seat.product.code == "desktop"
    assert month.spla("2026-09") == [("acme", "OFFSTD-SAL", 1), ("acme", "WINRDS-SAL", 1)]
    billed_once(month, travel, "desktop", 3900)


def test_an_unmapped_account_can_only_be_dismissed_or_removed_and_removal_is_done_once(app, ad, acme, travel):
    from provisioning.trueup.removal import remove_account_now

    travel("2026-10-05T09:00:00Z")
    add_ad_user(ad, "ghost", "gina", "gina@elsewhere.example")  # a group of a client nobody knows
    discover()
    (finding,) = findings()
    assert finding.client is None and "“ghost”" in finding.unmapped_reason
    assert proposed(finding) is Settlement.ENFORCE
    with pytest.raises(Exception, match="does not know"):
        settle(TESTS, finding, Settlement.ADOPT)
    db.session.rollback()

    settle(TESTS, finding, Settlement.ENFORCE)
    db.session.commit()
    assert discover().summary["reopened"] == 0  # not removed yet: still settled as chosen
    assert remove_account_now(finding.id) == "removed"
    assert remove_account_now(finding.id) == "removed"  # a repeated task: already gone, fine
    before = interval_count()
    run = discover()
    assert run.summary["accounts"] == 0 and run.summary["open"] == 0
    (finding,) = findings()
    assert finding.status is FindingStatus.SETTLED and finding.settlement is Settlement.ENFORCE
    assert interval_count() == before  # nothing billed
