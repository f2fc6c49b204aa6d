"""The discovery run: compare what the platforms and outside systems report with seats and the ledger.

The edge (the nightly task, ``trueup run``) first reads the platforms with no transaction open
(:func:`provisioning.trueup.platforms.read_platforms`), then calls :func:`run_discovery`, which
records every difference as a finding, one per (platform, account), and commits once. A platform that
could not be read changes none of its findings. Re-runs only move ``last_seen_at``; a settled or
dismissed finding opens again only if what differs changes; an open finding whose difference went
away is marked resolved.
"""

from __future__ import annotations

import logging
from collections import Counter
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import selectinload

from portal.accounts.models import Client
from portal.audit.services import Actor, record
from portal.db import db, utcnow
from portal.errors import NotFound, ServiceError
from portal.webhooks_out.services import emit
from provisioning.trueup.drift import Drift, compare_platform, external_counts
from provisioning.trueup.models import (
    USAGE_PLATFORM,
    Finding,
    FindingStatus,
    Settlement,
    TrueupRun,
)
from provisioning.trueup.platforms import Reading
from provisioning.trueup.settlements import policy_for, proposed, settle

log = logging.getLogger("seatmeter.trueup")


def run_discovery(actor: Actor, readings: list[Reading], now: datetime | None = None) -> TrueupRun:
    """Record what differs, settle what the policies settle; the caller commits."""
    now = now or utcnow()
    counts: Counter[str] = Counter()
    problems: dict[str, str] = {}
    for reading in readings:
        if reading.problem is not None:
            problems[reading.platform] = reading.problem
            continue
        counts["accounts"] += len(reading.observed)
        drifts = compare_platform(reading, now)
        _apply(
            actor, reading.platform, drifts, {o.account.external_id for o in reading.observed}, now, counts
        )
    drifts = external_counts(now)
    _apply(actor, USAGE_PLATFORM, drifts, set(drifts), now, counts)
    counts["auto_settled"] += _auto_settle(now)
    counts["open"] = (
        db.session.scalar(select(func.count(Finding.id)).where(Finding.status == FindingStatus.OPEN)) or 0
    )
    summary = {
        key: counts[key] for key in ("accounts", "new", "reopened", "resolved", "auto_settled", "open")
    }
    run = TrueupRun(started_at=now, finished_at=utcnow(), by=actor.label, summary=summary, problems=problems)
    db.session.add(run)
    db.session.flush()
    record(actor, "trueup.run", "trueup_run", run.id, details={**summary, "problems": problems})
    return run


def _apply(
    actor: Actor, platform: str, drifts: dict[str, Drift], seen: set[str], now: datetime, counts: Counter[str]
) -> None:
    existing = {
        f.account_id: f for f in db.session.scalars(select(Finding).where(Finding.platform == platform))
    }
    for account_id, drift in drifts.items():
        finding = existing.get(account_id)
        if finding is None:
            finding = Finding(
                platform=platform, account_id=account_id, first_seen_at=now, status=FindingStatus.OPEN
            )
            _describe(finding, drift, now)
            db.session.add(finding)
            db.session.flush()
            counts["new"] += 1
            _record(actor, "trueup.found", finding)
            _announce(finding, "found")
        elif finding.status is FindingStatus.OPEN:
            if finding.kind is not drift.kind:
                finding.first_seen_at = now
            _describe(finding, drift, now)
        elif finding.fingerprint == drift.fingerprint:
            finding.last_seen_at = now  # settled or dismissed as it is: left alone
        else:
            previous = finding.settlement.value if finding.settlement else None
            finding.status = FindingStatus.OPEN
            finding.first_seen_at = now
            finding.settlement = finding.settled_by = finding.settled_by_user_id = finding.settled_at = None
            finding.reason = finding.action_error = None
            _describe(finding, drift, now)
            counts["reopened"] += 1
            _record(actor, "trueup.reopened", finding, previous=previous)
            _announce(finding, "reopened")
    for account_id, finding in existing.items():
        if account_id in drifts:
            continue
        if account_id in seen:
            finding.last_seen_at = now
        if finding.status is FindingStatus.OPEN:
            finding.status = FindingStatus.SETTLED
            finding.settlement = Settlement.RESOLVED
            finding.settled_by, finding.settled_by_user_id, finding.settled_at = actor.label, None, now
            counts["resolved"] += 1
            _record(actor, "trueup.resolved", finding)
        elif finding.fingerprint:
            finding.fingerprint = ""  # the situation is over: should it come back, it opens again
    db.session.flush()


def _describe(finding: Finding, drift: Drift, now: datetime) -> None:
    finding.kind = drift.kind
    finding.product_kind = drift.product_kind
    finding.fingerprint = drift.fingerprint
    finding.summary = drift.summary
    finding.evidence = drift.evidence
    finding.client = drift.client
    finding.unmapped_reason = drift.unmapped_reason
    finding.user_key = drift.user_key
    finding.seat = drift.seat
    finding.product = drift.product
    finding.last_seen_at = now


def _announce(finding: Finding, what: str) -> None:
    """The ``trueup.finding`` webhook: a new difference, or a settled one that came back changed."""
    emit(
        "trueup.finding",
        finding,
        lambda: {
            "finding_id": finding.id,
            "what": what,
            "platform": finding.platform,
            "account": finding.account_id,
            "kind": finding.kind.value,
            "summary": finding.summary,
            "client_ref": finding.client.ref if finding.client is not None else None,
            "product": finding.product.code if finding.product is not None else None,
            "seat_id": finding.seat.id if finding.seat is not None else None,
            "user": finding.user_key,
            "first_seen_at": finding.first_seen_at.isoformat(),
        },
    )


def _record(actor: Actor, action: str, finding: Finding, **extra: Any) -> None:
    record(
        actor,
        action,
        "trueup_finding",
        finding.id,
        client_id=finding.client_id,
        details={
            "platform": finding.platform,
            "account": finding.account_id,
            "kind": finding.kind.value,
            "summary": finding.summary,
            **extra,
        },
    )


def _auto_settle(now: datetime) -> int:
    """Settle the open findings whose product's policy says so, each in its own savepoint."""
    settled = 0
    for finding in open_findings():
        product = policy_for(finding)
        if product is None:
            continue
        choice = proposed(finding)
        try:
            with db.session.begin_nested():
                settle(
                    Actor.system(f"true-up policy of {product.name}"),
                    finding,
                    choice,
                    product=product,
                    now=now,
                )
        except ServiceError as error:
            log.info("true-up policy could not settle finding #%s: %s", finding.id, error.message)
            continue
        settled += 1
    return settled


# --- reading findings --------------------------------------------------------------------------------


def open_findings() -> list[Finding]:
    return list_findings(FindingStatus.OPEN)


def list_findings(
    status: FindingStatus | None = FindingStatus.OPEN, client: Client | None = None, limit: int = 500
) -> list[Finding]:
    query = select(Finding).options(
        selectinload(Finding.client), selectinload(Finding.seat), selectinload(Finding.product)
    )
    if status is not None:
        query = query.where(Finding.status == status)
    if client is not None:
        query = query.where(Finding.client_id == client.id)
    return list(
        db.session.scalars(query.order_by(Finding.first_seen_at.desc(), Finding.id.desc()).limit(limit))
    )


def get_finding(finding_id: int) -> Finding:
    finding = db.session.get(Finding, finding_id)
    if finding is None:
        raise NotFound(f"No true-up finding #{finding_id}.")
    return finding


def last_run() -> TrueupRun | None:
    return db.session.scalars(
        select(TrueupRun).order_by(TrueupRun.started_at.desc(), TrueupRun.id.desc())
    ).first()
