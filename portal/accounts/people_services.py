"""Managing the people of a tenant: the reseller's team, or one client's portal users.

Each change is a named operation (change_role, disable_user, enable_user, remove_user, reinvite_user)
with the same rules for both tenants: a person cannot disable or remove themselves, and a tenant never
loses its last active administrator (demoted, disabled or removed), so nobody is left who could undo it.
Services flush; the view commits.
"""

from __future__ import annotations

from sqlalchemy import delete, select, update

from portal.accounts.models import ApiToken, Client, OneTimeToken, Role, User
from portal.accounts.services import new_invitation_link
from portal.audit.services import Actor, record
from portal.db import db, utcnow
from portal.errors import Conflict, InvalidInput, NotFound
from portal.notifications.services import send_email_after_commit
from portal.orders.queries import is_possible_id

RESELLER_TEAM_ROLES = (Role.RESELLER_STAFF, Role.RESELLER_ADMIN)
CLIENT_PORTAL_ROLES = (Role.CLIENT_USER, Role.CLIENT_ADMIN)


def _admin_role(client: Client | None) -> Role:
    return Role.RESELLER_ADMIN if client is None else Role.CLIENT_ADMIN


def _roles_of(client: Client | None) -> tuple[Role, ...]:
    return RESELLER_TEAM_ROLES if client is None else CLIENT_PORTAL_ROLES


def status_of(user: User) -> str:
    """What a list shows: invited (no password yet), active or disabled."""
    if not user.active:
        return "disabled"
    return "invited" if user.password_hash is None else "active"


def team_members() -> list[User]:
    """The reseller's own people (admins and staff), by e-mail."""
    return list(
        db.session.scalars(
            select(User)
            .where(User.role.in_(RESELLER_TEAM_ROLES), User.client_id.is_(None))
            .order_by(User.email)
        )
    )


def person_of(client: Client | None, user_id: int) -> User:
    """A person of this tenant (``None``: the reseller); anyone else is not found, never forbidden."""
    user = db.session.get(User, user_id) if is_possible_id(user_id) else None
    if (
        user is None
        or user.client_id != (client.id if client else None)
        or user.role not in _roles_of(client)
    ):
        raise NotFound("There is no such person here.")
    return user


def _lock_active_admins(client: Client | None) -> list[int]:
    """The ids of the tenant's administrators who can log in, locked until the commit.

    Locked so that two administrators demoting each other at the same moment cannot both pass the
    "not the last one" check (PostgreSQL; SQLite has one writer at a time anyway).
    """
    query = select(User.id).where(
        User.role == _admin_role(client),
        User.active.is_(True),
        User.password_hash.is_not(None),
        User.client_id.is_(None) if client is None else User.client_id == client.id,
    )
    return list(db.session.scalars(query.with_for_update()))


def _check_not_last_admin(user: User, client: Client | None, doing: str) -> None:
    if user.role is not _admin_role(client) or not user.active or user.password_hash is None:
        return
    others = [admin_id for admin_id in _lock_active_admins(client) if admin_id != user.id]
    if not others:
        raise Conflict(
            f"{user.name} is the last active administrator, so you cannot {doing} them. "
            "Make someone else an administrator first."
        )


def _check_not_self(actor: Actor, user: User, doing: str) -> None:
    if actor.user_id == user.id:
        raise Conflict(f"You cannot {doing} yourself. Ask another administrator.")


def _record(actor: Actor, action: str, user: User, sentence: str, **details: object) -> None:
    # "summary" is the entry as a sentence, for the audit log page; the rest is there to search by.
    record(
        actor,
        action,
        "user",
        user.id,
        client_id=user.client_id,
        details={"summary": sentence, "email": user.email, **details},
    )


def change_role(actor: Actor, client: Client | None, user: User, role: Role) -> bool:
    """Give ``user`` another role of their tenant; False when it already was theirs."""
    if role not in _roles_of(client):
        raise InvalidInput("Choose one of the roles offered.", fields={"role": "Not a role here."})
    if user.role is role:
        return False
    if role is not _admin_role(client):
        _check_not_last_admin(user, client, "demote")
    previous = user.role
    user.role = role
    db.session.flush()
    _record(
        actor,
        "user.role_changed",
        user,
        f"{actor.label} changed {user.email} from {previous.label.lower()} to {role.label.lower()}.",
        role=role.value,
        previous_role=previous.value,
    )
    return True


def disable_user(actor: Actor, client: Client | None, user: User) -> bool:
    """Stop ``user`` logging in, and end every session they have open now; False if already disabled."""
    _check_not_self(actor, user, "disable")
    if not user.active:
        return False
    _check_not_last_admin(user, client, "disable")
    user.active = False
    # The same mechanism as logout and a password change: every cookie carries the old version.
    user.session_version += 1
    db.session.flush()
    _record(actor, "user.disabled", user, f"{actor.label} disabled {user.email}: they can no longer log in.")
    return True


def enable_user(actor: Actor, client: Client | None, user: User) -> bool:
    """Let a disabled user log in again (with the password they had); False if they were not disabled."""
    if user.active:
        return False
    user.active = True
    db.session.flush()
    _record(actor, "user.enabled", user, f"{actor.label} enabled {user.email} again.")
    return True


def remove_user(actor: Actor, client: Client | None, user: User) -> None:
    """Delete ``user``'s account for good: sessions, links and the API tokens that act as them end.

    Tokens the person created for the tenant (an administrator's scripts) keep working: they belong
    to the tenant and are listed, and revoked, on its API tokens page. A client_user token, which
    sees its owner's seats, acts as the person and is revoked with them.
    """
    _check_not_self(actor, user, "remove")
    _check_not_last_admin(user, client, "remove")
    email, role = user.email, user.role
    now = utcnow()
    db.session.execute(
        update(ApiToken)
        .where(
            ApiToken.created_by_id == user.id,
            ApiToken.role == Role.CLIENT_USER,
            ApiToken.revoked_at.is_(None),
        )
        .values(revoked_at=now)
    )
    db.session.execute(update(ApiToken).where(ApiToken.created_by_id == user.id).values(created_by_id=None))
    db.session.execute(delete(OneTimeToken).where(OneTimeToken.user_id == user.id))
    _record(
        actor,
        "user.removed",
        user,
        f"{actor.label} removed {email} ({role.label.lower()}).",
        role=role.value,
    )
    db.session.delete(user)
    db.session.flush()


def reinvite_user(actor: Actor, client: Client | None, user: User) -> None:
    """Send a new invitation to someone who has not chosen a password yet; the older link stops working."""
    if user.password_hash is not None:
        raise Conflict(
            f"{user.email} has already accepted the invitation. "
            "If they lost their password, they can reset it from the login page."
        )
    if not user.active:
        raise Conflict(f"{user.email} is disabled. Enable them first.")
    link = new_invitation_link(user)
    where = client.name if client else "the reseller console"
    send_email_after_commit(
        user.email,
        f"You are invited to {where} on Seatmeter",
        f"Hello {user.name},\n\n{actor.label} invited you to {where} on Seatmeter "
        f"as {user.role.label.lower()}.\n"
        "This is a new invitation: links in earlier invitations no longer work.\n"
        f"Choose your password here (the link works once, for 7 days):\n\n"
        f"{link}\n",
    )
    _record(actor, "user.reinvited", user, f"{actor.label} sent {user.email} a new invitation.")
