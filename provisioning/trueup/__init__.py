"""True-ups: find the licences the platforms really have that nobody billed, and settle them (issue 7).

A discovery run (nightly, or ``flask --app wsgi trueup run``) compares each platform's accounts and
the licence counts outside systems report with the seats and the licence ledger, and records each
difference as a :class:`~provisioning.trueup.models.Finding` with the platform's evidence. The
reseller settles it (adopt, provision again, apply the portal's state, dismiss) on the true-ups page;
a per-product policy settles some kinds by itself. Everything is idempotent: a re-run never finds,
adopts or bills the same thing twice.

Committed-seat contracts (metering's ``add_commitment``, ``end_commitment``) make the month close
bill at least the committed seats, with the users above the commitment as a true-up line.
"""

from provisioning.trueup.models import (
    Finding,
    FindingKind,
    FindingStatus,
    Settlement,
    TrueupPolicy,
    TrueupRun,
)
from provisioning.trueup.platforms import read_platforms
from provisioning.trueup.services import get_finding, last_run, list_findings, run_discovery
from provisioning.trueup.settlements import options_for, proposed, set_policy, settle

__all__ = [
    "Finding",
    "FindingKind",
    "FindingStatus",
    "Settlement",
    "TrueupPolicy",
    "TrueupRun",
    "get_finding",
    "last_run",
    "list_findings",
    "options_for",
    "proposed",
    "read_platforms",
    "run_discovery",
    "set_policy",
    "settle",
]
