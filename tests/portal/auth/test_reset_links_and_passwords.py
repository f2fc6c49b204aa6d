"""Reset links: a newer link or a used one voids the others. Guessable passwords are refused."""

from __future__ import annotations

import re

import pytest

from portal.accounts.models import Role
from portal.accounts.services import password_problems
from portal.demo.services import DEMO_PASSWORD
from tests.conftest import TEST_PASSWORD

NEW = "a brand new passphrase"


def _reset_link(client, email, caplog) -> str:
    caplog.clear()
    with caplog.at_level("INFO", logger="seatmeter.mail"):
        assert client.post("/password/forgot", data={"email": email}).status_code == 302
    found = re.search(r"(/password/reset/\S+)", caplog.text)
    assert found is not None, "no link was e-mailed"
    return found.group(1)


def test_a_newer_reset_link_voids_the_older_one(client, make_user, caplog):
    user = make_user(Role.RESELLER_ADMIN)
    older = _reset_link(client, user.email, caplog)
    newer = _reset_link(client, user.email, caplog)

    assert client.get(older).status_code == 404
    refused = client.post(older, data={"password": NEW, "confirm": NEW})
    assert refused.status_code == 404 and b"not valid any more" in refused.data

    assert client.post(newer, data={"password": NEW, "confirm": NEW}).status_code == 302
    assert client.get(older).status_code == 404


def test_using_a_reset_link_voids_it_and_every_other_link(client, make_user, caplog):
    user = make_user(Role.RESELLER_ADMIN)
    first = _reset_link(client, user.email, caplog)
    second = _reset_link(client, user.email, caplog)

    assert client.post(second, data={"password": NEW, "confirm": NEW}).status_code == 302
    client.post("/logout")

    for link in (first, second):
        again = client.post(link, data={"password": "someone elses pass", "confirm": "someone elses pass"})
        assert again.status_code == 404, link
    assert client.post("/login", data={"email": user.email, "password": NEW}).status_code == 302


@pytest.mark.parametrize(
    "password",
    [
        "1234567890",  # the examples
        "password12",
        "qwertyuiop",
        "123456789012345",  # all digits, whatever the length
        "9780141036144",
        "qwertyuiopasdfgh",  # keyboard rows
        "zxcvbnm,./asdf",
        "poiuytrewqlkjh",
        "1qaz2wsx3edc4rfv",
        "iloveyou",  # in the list of common passwords
        "sunshine2024",  # a common password with digits added
        "!!Password1234",
        "abcabcabcabc",  # one short piece repeated
    ],
)
def test_guessable_passwords_are_refused(password):
    assert password_problems(password) != [], password


@pytest.mark.parametrize(
    "password",
    [TEST_PASSWORD, DEMO_PASSWORD, NEW, "new long password", "pats own password", "a strong password",
     "prompted password", "long enough pw", "Tr0ub4dor&3-horse"],
)  # fmt: skip
def test_the_passwords_of_the_demo_and_the_tests_pass(password):
    assert password_problems(password) == []


def test_a_common_password_is_explained_in_plain_words(client, make_user, caplog):
    user = make_user(Role.RESELLER_ADMIN)
    link = _reset_link(client, user.email, caplog)

    page = client.post(link, data={"password": "password12", "confirm": "password12"})

    assert page.status_code == 200
    assert "one of the most common passwords" in page.get_data(as_text=True)
