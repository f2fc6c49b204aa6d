"""The audit log page for the reseller (filters by who, what, client and date)."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta

from flask import Blueprint, render_template, request
from sqlalchemy import func, select

from portal.accounts.models import Client
from portal.audit.forms import AuditFilterForm
from portal.audit.models import AuditEvent
from portal.auth.access import RESELLER_ROLES, roles_required
from portal.listing import SortKey, contains, keyset_page

bp = Blueprint("audit", __name__, url_prefix="/reseller/audit")

PAGE_SIZE = 100
# Newest first; the id orders events of the same instant.
AUDIT_KEYS = (SortKey(AuditEvent.at, descending=True), SortKey(AuditEvent.id, descending=True))


@bp.route("/")
@roles_required(*RESELLER_ROLES)
def index() -> tuple[str, int]:
    form = AuditFilterForm(request.args)
    if request.args and not form.validate():
        # Bad input is shown next to its field, never guessed at: nothing is listed until it is fixed.
        return render_template("audit/index.html", rows=[], page=None, form=form), 422
    actor = (form.actor.data or "").strip()
    action = (form.action.data or "").strip()
    client_ref = (form.client.data or "").strip().lower()
    query = select(AuditEvent, Client.ref).outerjoin(Client, Client.id == AuditEvent.client_id)
    if actor:
        # Labels are e-mail addresses and token names: folded by the database, % and _ taken literally.
        query = query.where(contains(func.lower(AuditEvent.actor), actor))
    if action:
        query = query.where(AuditEvent.action.startswith(action, autoescape=True))
    if client_ref:
        query = query.where(Client.ref == client_ref)
    if form.since.data:
        query = query.where(AuditEvent.at >= datetime.combine(form.since.data, time.min, tzinfo=UTC))
    if form.until.data:
        day_after = datetime.combine(form.until.data + timedelta(days=1), time.min, tzinfo=UTC)
        query = query.where(AuditEvent.at < day_after)
    page = keyset_page(
        query,
        AUDIT_KEYS,
        lambda row: (row[0].at, row[0].id),
        list_name="audit",
        cursor=request.args.get("cursor"),
        limit=PAGE_SIZE,
    )
    return render_template("audit/index.html", rows=page.rows, page=page, form=form), 200
