"""The audit log page for the reseller (filters by who, what, client and date)."""

from __future__ import annotations

from flask import Blueprint, render_template, request
from sqlalchemy import select

from portal.accounts.models import Client
from portal.audit.models import AuditEvent
from portal.auth.access import RESELLER_ROLES, roles_required
from portal.db import db

bp = Blueprint("audit", __name__, url_prefix="/reseller/audit")

PAGE_SIZE = 100


@bp.route("/")
@roles_required(*RESELLER_ROLES)
def index() -> str:
    actor = request.args.get("actor", "").strip()
    action = request.args.get("action", "").strip()
    client_ref = request.args.get("client", "").strip()
    query = (
        select(AuditEvent, Client.ref)
        .outerjoin(Client, Client.id == AuditEvent.client_id)
        .order_by(AuditEvent.at.desc(), AuditEvent.id.desc())
        .limit(PAGE_SIZE)
    )
    if actor:
        query = query.where(AuditEvent.actor.ilike(f"%{actor}%"))
    if action:
        query = query.where(AuditEvent.action.like(f"{action}%"))
    if client_ref:
        query = query.where(Client.ref == client_ref)
    rows = db.session.execute(query).all()
    return render_template("audit/index.html", rows=rows, actor=actor, action=action, client_ref=client_ref)
