"""People pages: the reseller's team (/reseller/team) and the actions on a client's portal users
(/client/users/<id>/…; the list and the invitation form are accounts.client_users_page).

Reseller administrators manage the team; client administrators manage their own client's users. Both
pages offer the same actions: change role, disable, enable, re-invite, remove (after a confirmation
page, so it works without JavaScript). Every successful POST redirects (Post/Redirect/Get); a refusal
shows the list again with the reason and the status of the refusal.
"""

from __future__ import annotations

from collections.abc import Callable

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from werkzeug.wrappers import Response

from portal.accounts.forms import InviteUserForm
from portal.accounts.models import Client, Role, User
from portal.accounts.people_forms import (
    CLIENT_ROLE_CHOICES,
    TEAM_ROLE_CHOICES,
    ActionForm,
    InviteTeamMemberForm,
    RoleForm,
)
from portal.accounts.people_services import (
    change_role,
    disable_user,
    enable_user,
    person_of,
    reinvite_user,
    remove_user,
    status_of,
    team_members,
)
from portal.accounts.services import client_users, invite_user
from portal.audit.services import Actor
from portal.auth.access import current_client, current_portal_user, roles_required
from portal.errors import NotFound, ServiceError
from portal.transactions import web_transaction

bp = Blueprint("people", __name__)

RESELLER_ADMIN = (Role.RESELLER_ADMIN,)
CLIENT_ADMIN = (Role.CLIENT_ADMIN,)


def _actor() -> Actor:
    return Actor.for_user(current_portal_user())


def _role_form(client: Client | None, user: User) -> RoleForm:
    form = RoleForm(prefix=f"u{user.id}")
    form.role.choices = list(TEAM_ROLE_CHOICES if client is None else CLIENT_ROLE_CHOICES)
    if not form.is_submitted():
        form.role.data = user.role.value
    return form


def people_page(
    client: Client | None,
    invite_form: InviteTeamMemberForm | InviteUserForm | None = None,
    status: int = 200,
) -> tuple[str, int]:
    """The list of a tenant's people with an action form for each, and the invitation form."""
    people = team_members() if client is None else client_users(client)
    return (
        render_template(
            "accounts/people.html",
            client=client,
            rows=[(person, status_of(person), _role_form(client, person)) for person in people],
            form=invite_form or (InviteTeamMemberForm() if client is None else InviteUserForm()),
            me=current_portal_user(),
            endpoints=_endpoints(client),
        ),
        status,
    )


def _endpoints(client: Client | None) -> dict[str, str]:
    prefix = "people.team" if client is None else "people.client_user"
    return {
        "list": "people.team" if client is None else "accounts.client_users_page",
        "role": f"{prefix}_role",
        "disable": f"{prefix}_disable",
        "enable": f"{prefix}_enable",
        "reinvite": f"{prefix}_reinvite",
        "remove": f"{prefix}_remove",
    }


def _person(client: Client | None, user_id: int) -> User:
    try:
        return person_of(client, user_id)
    except NotFound:
        abort(404)


def _refused(client: Client | None, error: ServiceError) -> tuple[str, int]:
    flash(error.message, "error")
    return people_page(client, status=error.http_status)


# --- the reseller's team -------------------------------------------------------------------------


@bp.route("/reseller/team", methods=["GET", "POST"])
@roles_required(*RESELLER_ADMIN)
def team() -> Response | tuple[str, int]:
    form = InviteTeamMemberForm()
    if form.is_submitted():
        if not form.validate():
            return people_page(None, form)
        with web_transaction() as attempt:
            invite_user(_actor(), form.email.data or "", form.name.data or "", Role(form.role.data), None)
        if (error := attempt.error) is not None:
            for name, message in error.fields.items():
                if name in form:
                    form[name].errors = [message]
            if not error.fields:
                form.form_errors.append(error.message)
            return people_page(None, form)
        flash(f"Invitation sent to {form.email.data}.", "success")
        return redirect(url_for("people.team"))
    return people_page(None)


def _change_role(client: Client | None, user_id: int) -> Response | tuple[str, int]:
    user = _person(client, user_id)
    form = _role_form(client, user)
    if not form.validate_on_submit():
        flash("Choose one of the roles offered.", "error")
        return people_page(client, status=422)
    with web_transaction() as attempt:
        changed = change_role(_actor(), client, user, Role(form.role.data))
    if (error := attempt.error) is not None:
        return _refused(client, error)
    if changed:
        flash(f"{user.name} is now {user.role.label.lower()}.", "success")
    if user.id == current_portal_user().id and user.role is not (
        Role.RESELLER_ADMIN if client is None else Role.CLIENT_ADMIN
    ):
        # Someone who stepped down may no longer open this page.
        return redirect(url_for("home.index"))
    return redirect(url_for(_endpoints(client)["list"]))


def _act(
    client: Client | None,
    user_id: int,
    operation: Callable[[Actor, Client | None, User], object],
    done: str,
) -> Response | tuple[str, int]:
    user = _person(client, user_id)
    if not ActionForm().validate_on_submit():
        flash("This form has expired. Reload the page and try again.", "error")
        return people_page(client, status=400)
    name = user.name
    with web_transaction() as attempt:
        operation(_actor(), client, user)
    if (error := attempt.error) is not None:
        return _refused(client, error)
    flash(done.format(name=name), "success")
    return redirect(url_for(_endpoints(client)["list"]))


def _remove(client: Client | None, user_id: int, method_is_post: bool) -> Response | tuple[str, int]:
    user = _person(client, user_id)
    if not method_is_post:
        return (
            render_template(
                "accounts/confirm.html",
                title=f"Remove {user.name}?",
                question=f"Remove {user.name} ({user.email})?",
                consequences=[
                    "Their account is deleted for good: they are logged out at once and cannot log in again.",
                    "Their earlier actions stay in the audit log.",
                    "To let them back later, invite them again.",
                ],
                action=url_for(_endpoints(client)["remove"], user_id=user.id),
                button=f"Remove {user.name}",
                back=url_for(_endpoints(client)["list"]),
                form=ActionForm(),
            ),
            200,
        )
    return _act(client, user_id, remove_user, "{name} was removed.")


@bp.route("/reseller/team/<int:user_id>/role", methods=["POST"])
@roles_required(*RESELLER_ADMIN)
def team_role(user_id: int) -> Response | tuple[str, int]:
    return _change_role(None, user_id)


@bp.route("/reseller/team/<int:user_id>/disable", methods=["POST"])
@roles_required(*RESELLER_ADMIN)
def team_disable(user_id: int) -> Response | tuple[str, int]:
    return _act(None, user_id, disable_user, "{name} is disabled and was logged out.")


@bp.route("/reseller/team/<int:user_id>/enable", methods=["POST"])
@roles_required(*RESELLER_ADMIN)
def team_enable(user_id: int) -> Response | tuple[str, int]:
    return _act(None, user_id, enable_user, "{name} can log in again.")


@bp.route("/reseller/team/<int:user_id>/reinvite", methods=["POST"])
@roles_required(*RESELLER_ADMIN)
def team_reinvite(user_id: int) -> Response | tuple[str, int]:
    return _act(
        None, user_id, reinvite_user, "A new invitation was sent to {name}; the older link no longer works."
    )


@bp.route("/reseller/team/<int:user_id>/remove", methods=["GET", "POST"])
@roles_required(*RESELLER_ADMIN)
def team_remove(user_id: int) -> Response | tuple[str, int]:
    return _remove(None, user_id, request.method == "POST")


# --- a client's portal users ---------------------------------------------------------------------


@bp.route("/client/users/<int:user_id>/role", methods=["POST"])
@roles_required(*CLIENT_ADMIN)
def client_user_role(user_id: int) -> Response | tuple[str, int]:
    return _change_role(current_client(), user_id)


@bp.route("/client/users/<int:user_id>/disable", methods=["POST"])
@roles_required(*CLIENT_ADMIN)
def client_user_disable(user_id: int) -> Response | tuple[str, int]:
    return _act(current_client(), user_id, disable_user, "{name} is disabled and was logged out.")


@bp.route("/client/users/<int:user_id>/enable", methods=["POST"])
@roles_required(*CLIENT_ADMIN)
def client_user_enable(user_id: int) -> Response | tuple[str, int]:
    return _act(current_client(), user_id, enable_user, "{name} can log in again.")


@bp.route("/client/users/<int:user_id>/reinvite", methods=["POST"])
@roles_required(*CLIENT_ADMIN)
def client_user_reinvite(user_id: int) -> Response | tuple[str, int]:
    return _act(
        current_client(),
        user_id,
        reinvite_user,
        "A new invitation was sent to {name}; the older link no longer works.",
    )


@bp.route("/client/users/<int:user_id>/remove", methods=["GET", "POST"])
@roles_required(*CLIENT_ADMIN)
def client_user_remove(user_id: int) -> Response | tuple[str, int]:
    return _remove(current_client(), user_id, request.method == "POST")
