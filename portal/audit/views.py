"""The audit log page for the reseller (filters by who, what, client and date)."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta

from flask import Blueprint, render_template, request
from sqlalchemy import select

from portal.accounts.models import Client
from portal.audit.forms import AuditFilterForm
from portal.audit.models import AuditEvent
from portal.auth.access import RESELLER_ROLES, roles_required
from portal.db import db

bp = Blueprint("audit", __name__, url_prefix="/reseller/audit")

PAGE_SIZE = 100


@bp.route("/")
@roles_required(*RESELLER_ROLES)
def index() -> tuple[str, int]:
    form = AuditFilterForm(request.args)
    if request.args and not form.validate():
        # Bad input is shown next to its field, never guessed at: nothing is listed until it is fixed.
        return render_template("audit/index.html", rows=[], form=form), 422
    actor = (form.actor.data or "").strip()
    action = (form.action.data or "").strip()
    client_ref = (form.client.data or "").strip().lower()
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
    if form.since.data:
        query = query.where(AuditEvent.at >= datetime.combine(form.since.data, time.min, tzinfo=UTC))
    if form.until.data:
        day_after = datetime.combine(form.until.data + timedelta(days=1), time.min, tzinfo=UTC)
        query = query.where(AuditEvent.at < day_after)
    rows = db.session.execute(query).all()
    return render_template("audit/index.html", rows=rows, form=form), 200
