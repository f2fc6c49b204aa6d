"""The WorkSpaces adapter against moto_server: idempotent, never adopts a stranger's WorkSpace."""

from __future__ import annotations

import boto3
import pytest

from provisioning.adapters.base import AccountState, AdapterError, FoundAccount, SeatRequest, SeatUser
from provisioning.adapters.workspaces import WorkSpacesAdapter
from tests.standins.aws import make_workspaces_directory

pytestmark = pytest.mark.slow


@pytest.fixture
def directory(aws_env) -> str:
    return make_workspaces_directory(aws_env.endpoint_url)


@pytest.fixture
def adapter(aws_env, directory) -> WorkSpacesAdapter:
    return WorkSpacesAdapter(directory, "wsb-12345678", aws_env.endpoint_url, aws_env.region)


@pytest.fixture
def moto(aws_env):
    return boto3.client("workspaces", endpoint_url=aws_env.endpoint_url, region_name=aws_env.region)


def request(seat_id: int, email: str | None = "alice@acme.example", **kwargs) -> SeatRequest:
    user = SeatUser(email, "Alice") if email else None
    return SeatRequest(seat_id, "acme", "desktop", f"seatmeter-seat-{seat_id}-create-r1", user=user, **kwargs)


def test_create_twice_makes_one_workspace_tagged_with_its_seat(adapter, moto, directory):
    first = adapter.create(request(7))
    again = adapter.create(request(7))  # a repeated step, e.g. after a worker died

    assert again.external_id == first.external_id
    assert first.state is AccountState.ENABLED and first.name == "alice"
    found = moto.describe_workspaces(DirectoryId=directory, UserName="alice")["Workspaces"]
    assert len(found) == 1
    tags = {t["Key"]: t["Value"] for t in moto.describe_tags(ResourceId=first.external_id)["TagList"]}
    assert tags == {
        "seatmeter:seat": "7",
        "seatmeter:client": "acme",
        "seatmeter:idempotency-key": "seatmeter-seat-7-create-r1",
    }


def test_another_seats_workspace_is_a_permanent_error(adapter):
    adapter.create(request(7))
    with pytest.raises(AdapterError) as caught:
        adapter.create(request(8))
    assert not caught.value.retryable and "does not belong to this seat" in caught.value.message


def test_terminate_by_id_or_by_name_and_again(adapter, moto, directory):
    made = adapter.create(request(7))
    # The id was never recorded (a crash): the seat's WorkSpace is still found by user name.
    adapter.terminate(request(7, email=None, account_user="alice@acme.example"))
    assert moto.describe_workspaces(DirectoryId=directory)["Workspaces"] == []
    adapter.terminate(request(7, email=None, external_id=made.external_id))  # already gone: fine
    assert adapter.describe(request(7, email=None, external_id=made.external_id)) is None


def test_assign_removes_and_recreates_for_the_new_person(adapter, moto, directory):
    made = adapter.create(request(7))
    moved = adapter.assign(
        SeatRequest(
            7,
            "acme",
            "desktop",
            "k",
            external_id=made.external_id,
            account_user="alice@acme.example",
            user=SeatUser("bob@acme.example", "Bob"),
        )
    )
    users = [w["UserName"] for w in moto.describe_workspaces(DirectoryId=directory)["Workspaces"]]
    assert users == ["bob"] and moved.external_id != made.external_id


def test_list_accounts_reads_the_seat_tags(adapter):
    adapter.create(request(7))
    adapter.create(request(9, email="carol@acme.example"))
    assert sorted((a.name, a.seat_id) for a in adapter.list_accounts()) == [("alice", 7), ("carol", 9)]


def test_unregistered_directory_is_permanent(aws_env):
    adapter = WorkSpacesAdapter("d-0000000000", "wsb-12345678", aws_env.endpoint_url, aws_env.region)
    with pytest.raises(AdapterError) as caught:
        adapter.create(request(7))
    assert not caught.value.retryable and caught.value.code == "ResourceNotFound.Directory"


def test_unreachable_endpoint_is_retryable(aws_env):
    adapter = WorkSpacesAdapter("d-0000000000", "wsb-12345678", "http://127.0.0.1:9", aws_env.region)
    with pytest.raises(AdapterError) as caught:
        adapter.create(request(7))
    assert caught.value.retryable


# -- what true-ups read --------------------------------------------------------------------------------


def test_discover_reads_the_client_tag_and_the_sign_in_name(adapter, moto, directory):
    made = adapter.create(request(7))
    # A WorkSpace made by hand in the console: no Seatmeter tags at all.
    moto.create_workspaces(
        Workspaces=[{"DirectoryId": directory, "UserName": "Dave", "BundleId": "wsb-12345678"}]
    )

    found = {f.account.name: f for f in adapter.discover()}
    ours, stray = found["alice"], found["Dave"]
    assert (ours.account.external_id, ours.account.seat_id, ours.client_ref) == (made.external_id, 7, "acme")
    assert ours.named_by == "the WorkSpace's client tag"
    assert ours.evidence["tags"]["seatmeter:seat"] == "7" and ours.evidence["name"] == "alice"
    assert (ours.person, ours.account_key, ours.sign_in_name, ours.extension) == (
        None,
        "alice",
        "alice",
        None,
    )
    assert (stray.client_ref, stray.named_by, stray.account.seat_id) == (None, None, None)
    assert stray.evidence["tags"] == {} and (stray.account_key, stray.sign_in_name) == ("dave", "dave")
    assert "secret" not in stray.evidence


def test_naming_for_true_ups(adapter):
    assert adapter.account_name("Alice.Ward@Acme.Example") == "alice.ward"  # the directory user name
    assert adapter.removal_problem(FoundAccount("ws-12345678")) is None
    assert adapter.extension_of(FoundAccount("ws-12345678")) is None
