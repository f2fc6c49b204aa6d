"""/end-users, and the services behind them (update_end_user, remove_end_user)."""

from __future__ import annotations

from portal.accounts.models import EndUser
from portal.audit.models import AuditEvent
from portal.db import db
from portal.orders.models import DesiredState, SeatState
from tests.portal.api.conftest import error_of


def test_add_list_get_and_remove_an_end_user(acme_api):
    created = acme_api.post("/end-users", {"name": "Ann Lee", "email": "Ann@Acme.com", "extension": "201"})
    assert created.status_code == 201
    ann = created.get_json()
    assert ann["email"] == "ann@acme.com"
    assert ann["extension"] == "201"

    assert [person["id"] for person in acme_api.get("/end-users").get_json()["end_users"]] == [ann["id"]]
    assert acme_api.get(f"/end-users/{ann['id']}").get_json() == ann

    removed = acme_api.delete(f"/end-users/{ann['id']}")
    assert removed.status_code == 204
    assert acme_api.get(f"/end-users/{ann['id']}").status_code == 404
    actions = [
        event.action for event in db.session.query(AuditEvent).filter(AuditEvent.actor_token_id.is_not(None))
    ]
    # The token's first call from this address is a security event of its own.
    assert actions == ["api_token.new_address", "end_user.created", "end_user.removed"]


def test_a_user_principal_name_on_an_internal_domain_is_accepted(acme_api):
    response = acme_api.post("/end-users", {"name": "Bob", "email": "bob@corp.local"})

    assert response.status_code == 201


def test_duplicates_and_bad_values_are_refused(acme_api, acme, make_end_user):
    make_end_user(acme, "Ann", "ann@acme.com", "201")

    same_email = acme_api.post("/end-users", {"name": "Ann 2", "email": "ANN@acme.com"})
    same_extension = acme_api.post("/end-users", {"name": "Bo", "email": "bo@acme.com", "extension": "201"})
    bad = acme_api.post("/end-users", {"name": " ", "email": "nobody", "extension": "12a"})

    assert same_email.status_code == 409
    assert error_of(same_email)["fields"] == {"email": "Already in use."}
    assert same_extension.status_code == 409
    assert bad.status_code == 422
    assert set(error_of(bad)["fields"]) == {"name", "email", "extension"}


def test_change_an_end_user(acme_api, acme, make_end_user):
    ann = make_end_user(acme, "Ann", "ann@acme.com", "201")

    response = acme_api.patch(f"/end-users/{ann.id}", {"name": "Ann Lee", "extension": None})

    assert response.status_code == 200
    assert response.get_json()["name"] == "Ann Lee"
    assert response.get_json()["extension"] is None
    assert response.get_json()["email"] == "ann@acme.com"
    event = db.session.query(AuditEvent).filter_by(action="end_user.updated").one()
    assert event.details["name"] == {"from": "Ann", "to": "Ann Lee"}


def test_the_email_of_someone_holding_a_seat_cannot_change_but_the_name_can(
    acme_api, acme, make_end_user, make_seats
):
    ann = make_end_user(acme, "Ann", "ann@acme.com")
    make_seats(acme, "exchange", 1, [ann])

    email = acme_api.patch(f"/end-users/{ann.id}", {"email": "ann.lee@acme.com"})
    name = acme_api.patch(f"/end-users/{ann.id}", {"name": "Ann Lee"})

    assert email.status_code == 409
    assert "email" in error_of(email)["fields"]
    assert name.status_code == 200


def test_the_email_cannot_be_taken_from_someone_else(acme_api, acme, make_end_user):
    make_end_user(acme, "Ann", "ann@acme.com")
    bob = make_end_user(acme, "Bob", "bob@acme.com")

    response = acme_api.patch(f"/end-users/{bob.id}", {"email": "ann@acme.com"})

    assert response.status_code == 409


def test_removing_someone_who_holds_a_seat_is_refused_until_it_is_unassigned(
    acme_api, acme, make_end_user, make_seats
):
    ann = make_end_user(acme, "Ann", "ann@acme.com")
    seat = make_seats(acme, "voip", 1, [ann])[0]

    refused = acme_api.delete(f"/end-users/{ann.id}")
    assert refused.status_code == 409
    assert f"#{seat.id}" in error_of(refused)["message"]
    assert db.session.get(EndUser, ann.id) is not None

    assert acme_api.post(f"/seats/{seat.id}/unassign").status_code == 200
    assert acme_api.delete(f"/end-users/{ann.id}").status_code == 204


def test_removing_someone_whose_cancelled_seat_is_terminated_detaches_the_seat(
    acme_api, acme, make_end_user, make_seats
):
    ann = make_end_user(acme, "Ann", "ann@acme.com")
    seat = make_seats(acme, "voip", 1, [ann])[0]
    assert acme_api.delete(f"/seats/{seat.id}").status_code == 200

    db.session.refresh(seat)
    if seat.state is not SeatState.TERMINATED:
        still_terminating = acme_api.delete(f"/end-users/{ann.id}")
        assert still_terminating.status_code == 409
        # What the workers do once the platform confirms.
        seat.state = SeatState.TERMINATED
        db.session.commit()

    assert acme_api.delete(f"/end-users/{ann.id}").status_code == 204
    db.session.refresh(seat)
    assert seat.end_user_id is None
    assert seat.desired_state is DesiredState.TERMINATED


def test_removal_waits_until_the_workers_removed_the_persons_platform_account(
    acme_api, acme, make_end_user, make_seats
):
    ann = make_end_user(acme, "Ann", "ann@acme.com")
    seat = make_seats(acme, "exchange", 1, [ann])[0]
    # What a worker records when it creates the mailbox for Ann.
    seat.account_end_user_id = ann.id
    db.session.commit()
    assert acme_api.post(f"/seats/{seat.id}/unassign").status_code == 200

    waiting = acme_api.delete(f"/end-users/{ann.id}")
    assert waiting.status_code == 409
    assert "try again" in error_of(waiting)["message"].lower()

    # What the worker records once the mailbox is gone.
    seat.account_end_user_id = None
    db.session.commit()
    assert acme_api.delete(f"/end-users/{ann.id}").status_code == 204
