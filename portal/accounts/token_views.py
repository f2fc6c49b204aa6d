"""API tokens on the console: /reseller/tokens (reseller administrators) and /client/tokens (client
administrators, for their own client).

A new token's secret is shown once, on the page the creation redirects to: it travels there sealed in
the session and is taken out as it is shown, so a reload, the Back button or another tab never shows
it again (only its hash is stored). Revoking asks first on a page of its own (no JavaScript needed).
"""

from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, request, session, url_for
from sqlalchemy import select
from werkzeug.wrappers import Response

from portal.accounts.models import ApiToken, Client, Role, User
from portal.accounts.people_forms import ActionForm, NewTokenForm
from portal.accounts.token_services import (
    create_api_token,
    created_by_labels,
    revoke_api_token,
    token_of,
    token_scope,
    tokens_of,
)
from portal.audit.services import Actor
from portal.auth.access import current_client, current_portal_user, roles_required
from portal.db import db
from portal.errors import NotFound
from portal.sealing import Purpose, seal, unseal
from portal.transactions import web_transaction

bp = Blueprint("tokens", __name__)

_NEW_TOKEN_KEY = "new_api_token"  # nosec B105  # the session key's name, not a secret

RESELLER_ACCESS = {
    Role.RESELLER_STAFF.value: "Staff: reads everything, changes nothing",
    Role.RESELLER_ADMIN.value: "Administrator: reads and changes everything, for every client",
}


def _access_choices(client: Client | None) -> list[tuple[str, str]]:
    if client is None:
        return list(RESELLER_ACCESS.items())
    people = db.session.scalars(
        select(User)
        .where(User.client_id == client.id, User.role == Role.CLIENT_USER, User.active.is_(True))
        .order_by(User.name)
    )
    return [(Role.CLIENT_ADMIN.value, f"Administrator: orders and manages everything of {client.name}")] + [
        (f"user:{person.id}", f"{person.name}: reads the catalog and {person.name}'s own seats")
        for person in people
    ]


def _endpoint(client: Client | None, name: str) -> str:
    return f"tokens.{'reseller' if client is None else 'client'}_{name}"


def _page(client: Client | None, form: NewTokenForm | None = None, status: int = 200) -> tuple[str, int]:
    if form is None:
        form = NewTokenForm()
        form.access.choices = _access_choices(client)
    tokens = tokens_of(client)
    return (
        render_template(
            "accounts/tokens.html",
            client=client,
            rows=[(token, token_scope(token)) for token in tokens],
            created_by=created_by_labels(tokens),
            form=form,
            create_url=url_for(_endpoint(client, "tokens")),
            revoke_endpoint=_endpoint(client, "revoke"),
        ),
        status,
    )


def _create(client: Client | None) -> Response | tuple[str, int]:
    form = NewTokenForm()
    form.access.choices = _access_choices(client)
    if not form.validate_on_submit():
        return _page(client, form, 422)
    access = form.access.data or ""
    owner = None
    if access.startswith("user:"):
        owner = db.session.get(User, int(access.removeprefix("user:")))
        role = Role.CLIENT_USER
    else:
        role = Role(access)
    user = current_portal_user()
    with web_transaction() as attempt:
        token, raw = create_api_token(Actor.for_user(user), form.name.data or "", role, client, owner)
    if (error := attempt.error) is not None:
        form.name.errors = [*form.name.errors, error.message]
        return _page(client, form, 422)
    session[_NEW_TOKEN_KEY] = {"id": token.id, "sealed": seal(raw, Purpose.NEW_API_TOKEN)}
    return redirect(url_for(_endpoint(client, "created"), token_id=token.id))


def _created(client: Client | None, token_id: int) -> tuple[str, int]:
    token = _token(client, token_id)
    waiting = session.get(_NEW_TOKEN_KEY)
    raw = None
    if isinstance(waiting, dict) and waiting.get("id") == token.id:
        session.pop(_NEW_TOKEN_KEY)
        raw = unseal(str(waiting.get("sealed", "")), Purpose.NEW_API_TOKEN)
    return (
        render_template(
            "accounts/token_created.html",
            token=token,
            scope=token_scope(token),
            secret=raw,
            back=url_for(_endpoint(client, "tokens")),
        ),
        200 if raw else 410,
    )


def _token(client: Client | None, token_id: int) -> ApiToken:
    try:
        return token_of(client, token_id)
    except NotFound:
        abort(404)


def _revoke(client: Client | None, token_id: int) -> Response | tuple[str, int]:
    token = _token(client, token_id)
    back = url_for(_endpoint(client, "tokens"))
    if request.method != "POST":
        if token.revoked_at is not None:
            flash(f"The token “{token.name}” is already revoked.", "success")
            return redirect(back)
        return (
            render_template(
                "accounts/confirm.html",
                title=f"Revoke the token “{token.name}”?",
                question=f"Revoke the API token “{token.name}” ({token.token_prefix}…)?",
                consequences=[
                    f"It acts for {token_scope(token)}.",
                    "Every script or tool that uses it gets “401 Unauthorized” from its next request on.",
                    "To give such a tool access again, create a new token.",
                ],
                action=url_for(_endpoint(client, "revoke"), token_id=token.id),
                button="Revoke the token",
                back=back,
                form=ActionForm(),
            ),
            200,
        )
    if not ActionForm().validate_on_submit():
        flash("This form has expired. Reload the page and try again.", "error")
        return _page(client, status=400)
    with web_transaction():
        revoke_api_token(Actor.for_user(current_portal_user()), token)
    flash(f"The token “{token.name}” is revoked: it no longer opens the API.", "success")
    return redirect(back)


# --- the reseller ---------------------------------------------------------------------------------

RESELLER_ADMIN = (Role.RESELLER_ADMIN,)


@bp.route("/reseller/tokens", methods=["GET", "POST"])
@roles_required(*RESELLER_ADMIN)
def reseller_tokens() -> Response | tuple[str, int]:
    return _create(None) if request.method == "POST" else _page(None)


@bp.route("/reseller/tokens/<int:token_id>/created")
@roles_required(*RESELLER_ADMIN)
def reseller_created(token_id: int) -> tuple[str, int]:
    return _created(None, token_id)


@bp.route("/reseller/tokens/<int:token_id>/revoke", methods=["GET", "POST"])
@roles_required(*RESELLER_ADMIN)
def reseller_revoke(token_id: int) -> Response | tuple[str, int]:
    return _revoke(None, token_id)


# --- a client's administrator ---------------------------------------------------------------------

CLIENT_ADMIN = (Role.CLIENT_ADMIN,)


@bp.route("/client/tokens", methods=["GET", "POST"])
@roles_required(*CLIENT_ADMIN)
def client_tokens() -> Response | tuple[str, int]:
    client = current_client()
    return _create(client) if request.method == "POST" else _page(client)


@bp.route("/client/tokens/<int:token_id>/created")
@roles_required(*CLIENT_ADMIN)
def client_created(token_id: int) -> tuple[str, int]:
    return _created(current_client(), token_id)


@bp.route("/client/tokens/<int:token_id>/revoke", methods=["GET", "POST"])
@roles_required(*CLIENT_ADMIN)
def client_revoke(token_id: int) -> Response | tuple[str, int]:
    return _revoke(current_client(), token_id)
