"""Discovery beyond unbilled accounts: missing accounts, state drift, outside counts, re-runs and policies."""

from __future__ import annotations

import ldap3
import pytest

from portal.accounts.end_user_services import add_end_user
from portal.catalog.services import get_product
from portal.db import db
from portal.errors import Conflict, InvalidInput
from portal.orders.models import DesiredState, Seat, SeatState
from provisioning import cancel_seat, resume_client, suspend_client
from provisioning.trueup.models import FindingKind, FindingStatus, Settlement
from provisioning.trueup.settlements import options_for, proposed, set_policy, settle
from tests.metering.months import event
from tests.provisioning.conftest import order, run_steps
from tests.provisioning.trueup.conftest import BUNDLE, TESTS, add_ad_user, configure, discover, findings, only

pytestmark = pytest.mark.slow


def test_a_deleted_subscriber_is_found_missing_and_provisioned_again(app, sip, acme, person):
    seat = order(acme, "voip", 1, [person("carol")]).seats[0]
    run_steps(seat)
    username, domain = seat.external_id.split("@")
    assert discover().summary["open"] == 0  # in step: nothing to report

    sip.delete_subscriber(username, domain)  # someone at the colo removes it
    discover()
    (finding,) = findings()
    assert (finding.kind, finding.seat, finding.account_id) == (FindingKind.ORPHANED, seat, seat.external_id)
    assert "has no account for it" in finding.summary
    assert [(o.settlement, o.available) for o in options_for(finding)] == [
        (Settlement.REPROVISION, True),
        (Settlement.DISMISS, True),
    ]

    settle(TESTS, finding, Settlement.REPROVISION)
    db.session.commit()
    assert seat.state is SeatState.PROVISIONING  # not billed while it has no account
    assert run_steps(seat) == ["create"]
    assert seat.state is SeatState.ACTIVE and seat.external_id == f"{username}@{domain}"
    run = discover()
    assert (run.summary["open"], run.summary["reopened"]) == (0, 0)
    assert findings()[0].settlement is Settlement.REPROVISION


def test_policy_provisions_missing_accounts_again_and_a_platform_that_cannot_be_read_changes_nothing(
    app, sip, acme, person, tmp_path
):
    seat = order(acme, "voip", 1, [person("carol")]).seats[0]
    run_steps(seat)
    sip.delete_subscriber(*seat.external_id.split("@"))
    discover()
    assert findings()[0].kind is FindingKind.ORPHANED

    configure(app, KAMAILIO_DB_URL=f"sqlite:///{tmp_path}/missing/folder/k.sqlite")
    run = discover()
    assert "kamailio" in run.problems and run.summary["resolved"] == 0
    assert findings()[0].status is FindingStatus.OPEN

    configure(app, KAMAILIO_DB_URL=sip.db_url)
    set_policy(TESTS, get_product("voip"), {FindingKind.ORPHANED})
    db.session.commit()
    assert discover().summary["auto_settled"] == 1
    assert findings()[0].settlement is Settlement.REPROVISION and run_steps(seat) == ["create"]


def test_state_drift_both_ways_is_put_right_by_the_workers(app, workmail_platform, acme, person):
    wm = workmail_platform
    seat = order(acme, "exchange", 1, [person("alice")]).seats[0]
    run_steps(seat)
    # Disabled behind Seatmeter's back: the client pays for a mailbox nobody can use.
    wm.client.deregister_from_work_mail(OrganizationId=wm.ident, EntityId=seat.external_id)
    discover()
    (finding,) = findings()
    assert finding.kind is FindingKind.STATE_DRIFT and "disabled on workmail" in finding.summary
    assert finding.evidence["state"] == "disabled" and proposed(finding) is Settlement.ENFORCE
    settle(TESTS, finding, Settlement.ENFORCE)
    db.session.commit()
    assert run_steps(seat) == ["resume"] and seat.state is SeatState.ACTIVE
    assert wm.client.describe_user(OrganizationId=wm.ident, UserId=seat.external_id)["State"] == "ENABLED"
    assert discover().summary["open"] == 0

    # Suspended in Seatmeter, enabled again by hand: someone uses what is not billed.
    suspend_client(TESTS, acme, "tests")
    db.session.commit()
    run_steps(seat)
    address = wm.client.describe_user(OrganizationId=wm.ident, UserId=seat.external_id)["Name"]
    wm.client.register_to_work_mail(
        OrganizationId=wm.ident, EntityId=seat.external_id, Email=f"{address.split('@')[0]}@{wm.mail_domain}"
    )
    run = discover()
    assert run.summary["reopened"] == 1  # the same account, a new difference
    (finding,) = findings()
    assert finding.status is FindingStatus.OPEN and "suspended and not billed" in finding.summary
    settle(TESTS, finding, Settlement.ENFORCE)
    db.session.commit()
    assert run_steps(seat) == ["suspend"] and seat.state is SeatState.SUSPENDED
    assert seat.desired_state is DesiredState.SUSPENDED
    assert discover().summary["open"] == 0
    resume_client(TESTS, acme)
    db.session.commit()


def test_usage_reported_from_outside_without_a_seat(app, acme, month, travel):
    only(app)  # no platform: only the usage events are compared
    travel("2026-10-10T09:00:00Z")
    month.events(
        event("r1", "acme", "bob@acme.example", "desktop", "start", "2026-10-03T09:00:00Z"),
        event("r2", "acme", "kim@acme.example", "exchange", "start", "2026-10-04T09:00:00Z"),
    )
    discover()
    bob, kim = sorted(findings(), key=lambda f: f.account_id)
    assert (bob.kind, bob.platform, bob.account_id) == (
        FindingKind.EXTERNAL_COUNT,
        "usage",
        "acme/desktop/bob@acme.example",
    )
    assert bob.evidence["reported_by"] == ["tests"] and bob.evidence["intervals"][0]["stop"] is None
    assert [o.settlement for o in options_for(bob)] == [Settlement.ADOPT, Settlement.DISMISS]

    with pytest.raises(InvalidInput):
        settle(TESTS, bob, Settlement.DISMISS)  # a reason is required
    settle(TESTS, bob, Settlement.DISMISS, reason="Bob's RMM agent runs on a kiosk, not a desktop seat")
    set_policy(TESTS, get_product("exchange"), {FindingKind.EXTERNAL_COUNT})
    db.session.commit()
    run = discover()  # the policy orders kim a mailbox seat; bob stays dismissed
    assert run.summary["auto_settled"] == 1 and run.summary["open"] == 0
    bob, kim = sorted(findings(), key=lambda f: f.account_id)
    assert bob.status is FindingStatus.DISMISSED and bob.reason.startswith("Bob's RMM")
    assert kim.settlement is Settlement.ADOPT and kim.seat.state is SeatState.ORDERED
    assert kim.seat.end_user.email == "kim@acme.example"
    for _ in range(2):
        assert discover().summary == {**run.summary, "auto_settled": 0}  # nothing new, nothing twice
    assert db.session.query(Seat).count() == 1


def test_an_adopted_account_left_behind_after_its_seat_is_cancelled_is_found_again(app, ad, acme, travel):
    travel("2026-10-05T09:00:00Z")
    add_ad_user(ad, "acme", "frank", "frank@acme.example", ou_ref="staff")
    discover()
    (finding,) = findings()
    settle(TESTS, finding, Settlement.ADOPT)
    db.session.commit()
    seat = finding.seat
    assert discover().summary["open"] == 0

    cancel_seat(TESTS, seat)
    db.session.commit()
    assert run_steps(seat) == ["terminate"]  # frank is not Seatmeter's user: he only leaves the group
    assert discover().summary["accounts"] == 0
    with ad.connect() as conn:  # and someone puts him back in the group by hand
        conn.modify(
            f"CN=acme-rds-users,OU=acme,{ad.clients_dn}",
            {"member": [(ldap3.MODIFY_ADD, [f"CN=frank,OU=staff,{ad.clients_dn}"])]},
        )
    run = discover()
    assert run.summary["reopened"] == 1
    (finding,) = findings()
    assert finding.status is FindingStatus.OPEN and finding.kind is FindingKind.UNBILLED


def test_a_difference_that_goes_away_by_itself_is_resolved(app, sip, acme):
    sip.add_subscriber("1077", "pw", domain=f"acme.{sip.domain}")
    discover()
    sip.delete_subscriber("1077", f"acme.{sip.domain}")
    assert discover().summary["resolved"] == 1
    (finding,) = findings()
    assert (finding.status, finding.settlement) == (FindingStatus.SETTLED, Settlement.RESOLVED)
    with pytest.raises(Conflict):
        settle(TESTS, finding, Settlement.DISMISS, reason="late")


def test_one_product_per_kind_adopts_unbilled_accounts(app, catalog):
    set_policy(TESTS, get_product("desktop"), {FindingKind.UNBILLED, FindingKind.ORPHANED})
    with pytest.raises(Conflict):
        set_policy(TESTS, get_product("desktop-pro"), {FindingKind.UNBILLED})
    set_policy(TESTS, get_product("desktop-pro"), {FindingKind.ORPHANED})


def test_a_person_is_needed_to_adopt_a_workspace_nobody_signs_in_as(app, workspaces, acme):
    workspaces.client.create_workspaces(
        Workspaces=[
            {
                "DirectoryId": workspaces.ident,
                "UserName": "zed",
                "BundleId": BUNDLE,
                "Tags": [{"Key": "seatmeter:client", "Value": "acme"}],
            }
        ]
    )
    discover()
    (finding,) = findings()
    assert finding.client == acme and finding.user_key is None  # the client tag names acme
    with pytest.raises(InvalidInput, match="Choose who"):
        settle(TESTS, finding, Settlement.ADOPT)
    db.session.rollback()
    zed = add_end_user(TESTS, acme, "Zed", "zed.z@acme.example")
    settle(TESTS, finding, Settlement.ADOPT, end_user=zed, product=get_product("desktop-pro"))
    db.session.commit()
    assert (finding.seat.product.code, finding.seat.end_user) == ("desktop-pro", zed)
