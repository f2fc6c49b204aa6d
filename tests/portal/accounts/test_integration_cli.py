"""``flask integrations …`` and integration tokens at the command line: add, map, create, revoke."""

from __future__ import annotations

from sqlalchemy import select

from portal.accounts.models import ApiToken, Role
from portal.accounts.token_services import authenticate_api_token
from portal.db import db


def test_an_integration_is_added_mapped_and_given_a_token_that_can_be_revoked(runner, make_client):
    make_client("acme")

    added = runner.invoke(args=["integrations", "add", "ninjaone", "--name", "NinjaOne RMM"])
    mapped = runner.invoke(args=["integrations", "map", "ninjaone", "org-17", "acme"])
    created = runner.invoke(
        args=["tokens", "create", "--role", "integration", "--integration", "ninjaone", "--name", "nightly"]
    )

    assert added.exit_code == 0, added.output
    assert mapped.exit_code == 0 and "org-17 -> acme" in mapped.output
    assert created.exit_code == 0, created.output
    token = authenticate_api_token(created.output.rstrip("\n").splitlines()[-1])
    assert token is not None
    assert (token.role, token.client, token.integration.source) == (Role.INTEGRATION, None, "ninjaone")

    listed = runner.invoke(args=["integrations", "list"])
    tokens = runner.invoke(args=["tokens", "list"])
    assert "org-17 -> acme" in listed.output
    assert "integration ninjaone" in tokens.output

    revoked = runner.invoke(args=["tokens", "revoke", str(token.id)])
    assert revoked.exit_code == 0
    db.session.expire_all()
    assert db.session.scalars(select(ApiToken.revoked_at)).one() is not None


def test_an_integration_token_without_its_integration_is_a_plain_error(runner):
    result = runner.invoke(args=["tokens", "create", "--role", "integration", "--name", "x"])

    assert result.exit_code == 1
    assert "names the integration" in result.output


def test_unmapping_an_unknown_id_is_a_plain_error(runner):
    runner.invoke(args=["integrations", "add", "datto", "--name", "Datto RMM"])

    result = runner.invoke(args=["integrations", "unmap", "datto", "nope"])

    assert result.exit_code == 1 and "not mapped" in result.output
