"""/account/notices: a person turns off the optional notices; the essential ones still come."""

from __future__ import annotations

from portal.accounts.models import Client, Role
from portal.orders.models import Seat
from tests.metering.seat_steps import step
from tests.portal.notices.conftest import Mailbox, run_notice_jobs
from tests.provisioning.conftest import order


def test_an_admin_who_opted_out_of_ready_seats_still_hears_of_failed_ones(
    client, login, acme: Client, make_user, queued, mailbox: Mailbox
) -> None:
    admin = make_user(Role.CLIENT_ADMIN, acme, "boss@acme.example")
    login(admin)
    page = client.get("/account/notices")
    assert page.status_code == 200 and b"A seat is ready to use" in page.data
    saved = client.post("/account/notices", data={})
    assert saved.status_code == 302
    assert b"checked" not in client.get("/account/notices").data

    ready: Seat = order(acme, "voip").seats[0]
    step(ready)
    failing: Seat = order(acme, "voip").seats[0]
    step(failing, fails=True)
    run_notice_jobs(queued)

    assert [message["Subject"].split(":")[0] for message in mailbox.to(admin.email)] == ["Not set up yet"]

    client.post("/account/notices", data={"wanted": ["seat_ready"]})
    assert b"checked" in client.get("/account/notices").data


def test_a_made_up_choice_is_refused_in_plain_words(client, login, acme: Client, make_user) -> None:
    login(make_user(Role.CLIENT_ADMIN, acme))
    response = client.post("/account/notices", data={"wanted": ["seat_failed", "x" * 5000]})
    assert response.status_code == 422
    assert b"Choose only among the notices listed." in response.data
    assert b"xxxx" not in response.data
