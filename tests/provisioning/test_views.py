"""The reseller's provisioning page: the failed queue with reasons, the attempt log, retry/cancel."""

from __future__ import annotations

from portal.accounts.models import Role
from portal.db import db
from portal.orders.models import DesiredState, SeatState
from provisioning import unassign_seat
from provisioning.lifecycle import move
from tests.conftest import csrf_token_from
from tests.provisioning.conftest import ACTOR, order, run_steps


def failed_desktop(acme, person):
    seat = order(acme, "desktop", 1, [person("alice")]).seats[0]
    run_steps(seat)  # desktops are not configured in tests' app: a permanent, plain failure
    assert seat.state is SeatState.FAILED
    return seat


def test_reseller_sees_the_failed_queue_with_reasons_and_attempts(client, login, make_user, acme, person):
    seat = failed_desktop(acme, person)
    login(make_user(Role.RESELLER_STAFF))

    page = client.get("/reseller/provisioning/").get_data(as_text=True)

    assert f'id="seat-{seat.id}"' in page
    assert "WORKSPACES_DIRECTORY_ID" in page  # the reason, in plain words
    assert f"seatmeter-seat-{seat.id}-create-r1" in page  # the attempt and its idempotency key
    detail = client.get(f"/reseller/provisioning/seats/{seat.id}").get_data(as_text=True)
    assert "alice@acme.example" in detail and "failed" in detail


def test_retry_and_cancel_from_the_queue(client, login, make_user, acme, person):
    seat = failed_desktop(acme, person)
    login(make_user(Role.RESELLER_ADMIN))

    response = client.post(f"/reseller/provisioning/seats/{seat.id}/retry")
    assert response.status_code == 302
    db.session.refresh(seat)
    assert seat.state is SeatState.PROVISIONING and seat.revision == 2

    run_steps(seat)
    response = client.post(f"/reseller/provisioning/seats/{seat.id}/cancel", follow_redirects=True)
    assert b"is cancelled" in response.data
    db.session.refresh(seat)
    assert seat.desired_state is DesiredState.TERMINATED

    response = client.post(f"/reseller/provisioning/seats/{seat.id}/retry", follow_redirects=True)
    assert b"has not failed" in response.data or b"is being provisioned again" in response.data


def test_clients_cannot_see_it(client, login, make_user, acme):
    login(make_user(Role.CLIENT_ADMIN, acme))
    assert client.get("/reseller/provisioning/").status_code == 403
    assert client.post("/reseller/provisioning/seats/1/retry").status_code == 403


def test_unknown_seat_is_404(client, login, make_user, catalog):
    login(make_user(Role.RESELLER_ADMIN))
    assert client.get("/reseller/provisioning/seats/999999").status_code == 404


def test_buttons_carry_a_csrf_token(app, client, login, make_user, acme, person):
    seat = failed_desktop(acme, person)
    login(make_user(Role.RESELLER_ADMIN))
    app.config["WTF_CSRF_ENABLED"] = True

    page = client.get("/reseller/provisioning/").get_data(as_text=True)
    refused = client.post(f"/reseller/provisioning/seats/{seat.id}/retry")
    accepted = client.post(
        f"/reseller/provisioning/seats/{seat.id}/retry", data={"csrf_token": csrf_token_from(page)}
    )

    assert refused.status_code == 400
    assert accepted.status_code == 302


def test_a_seat_whose_removal_fails_says_it_is_still_authorized(client, login, make_user, acme, person):

    alice = person("alice")
    seat = order(acme, "desktop", 1, [alice]).seats[0]
    # As if a worker had made Alice's WorkSpace; removing it then fails (desktops are not configured).
    seat.account_end_user_id, seat.platform_user, seat.external_id = alice.id, alice.email, "ws-1"
    move(seat, SeatState.PROVISIONING)
    move(seat, SeatState.ACTIVE)
    db.session.commit()
    unassign_seat(ACTOR, seat)
    db.session.commit()
    assert run_steps(seat) == ["unassign"] and seat.state is SeatState.FAILED
    since = seat.state_changed_at.strftime("%Y-%m-%d %H:%M")
    never_made = failed_desktop(acme, lambda _name: person("bob"))  # nothing made for Bob: nobody gets in
    login(make_user(Role.RESELLER_STAFF))

    page = client.get("/reseller/provisioning/").get_data(as_text=True)
    detail = client.get(f"/reseller/provisioning/seats/{seat.id}").get_data(as_text=True)
    other = client.get(f"/reseller/provisioning/seats/{never_made.id}").get_data(as_text=True)

    assert f"still authorized: removal failing since {since} UTC" in page
    assert page.count("still authorized") == 1
    assert f"still authorized: removal failing since {since} UTC" in detail
    assert "still authorized" not in other


def test_the_spla_page_lists_seats_still_authorized_because_their_removal_fails(
    client, login, make_user, acme, person
):
    alice = person("alice")
    seat = order(acme, "desktop", 1, [alice]).seats[0]
    seat.account_end_user_id, seat.platform_user, seat.external_id = alice.id, alice.email, "ws-1"
    move(seat, SeatState.PROVISIONING)
    move(seat, SeatState.ACTIVE)
    db.session.commit()
    unassign_seat(ACTOR, seat)
    db.session.commit()
    assert run_steps(seat) == ["unassign"] and seat.state is SeatState.FAILED
    since = seat.state_changed_at
    failed_desktop(acme, lambda _name: person("bob"))  # nothing made for Bob: nobody gets in
    login(make_user(Role.RESELLER_STAFF))
    month = f"{since:%Y-%m}"
    before = f"{since.year - 1}-{since:%m}"

    page = client.get(f"/reseller/spla/{month}").get_data(as_text=True)
    earlier = client.get(f"/reseller/spla/{before}").get_data(as_text=True)

    assert f'id="still-authorized-{seat.id}"' in page
    assert f"still authorized: removal failing since {since:%Y-%m-%d %H:%M} UTC" in page
    assert "alice@acme.example" in page
    assert page.count("still authorized: removal failing") == 1  # not Bob's: his seat never gave access
    assert "still authorized: removal failing" not in earlier  # it failed after that month
