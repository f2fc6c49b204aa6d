"""Metering engine: licence ledger, SPLA-style counting, rating, month close and invoicing.

Outside metering (portal's views, forms, API and console, ``portal.models``, and provisioning),
import only the names below: ``from metering import estimate_month``. The modules behind them are
metering's own and may move; ``make lint`` (import-linter) refuses an import of one from outside.

Nothing here may import provisioning when this package is loaded: provisioning imports the ledger
functions below at import time, so metering reaches provisioning only inside the functions that
need it (dunning's suspend and resume).
"""

from metering.billing.catalog import product_price
from metering.billing.close_runs import (
    close_refusal,
    close_run_counts,
    close_run_json,
    close_run_progress,
    latest_close_run,
    start_close_run,
)
from metering.billing.documents import (
    PLAIN_STATES,
    InvoiceDocument,
    invoice_document,
    invoice_json,
    invoices_json,
    is_open,
    state_label,
)
from metering.billing.dunning import mark_paid, mark_payment_failed
from metering.billing.estimate import MonthEstimate, estimate_month
from metering.billing.finalize import finalize_period
from metering.billing.models import (
    BillingAccount,
    BillingPeriodState,
    CloseRun,
    CloseRunStatus,
    Invoice,
    InvoiceLine,
    InvoiceStatus,
    StripeEvent,
)
from metering.billing.pdf import invoice_pdf, render_invoice_html
from metering.billing.prices import (
    change_placement,
    change_price,
    change_sku_cost,
    effective_month,
    first_unbilled_month,
)
from metering.billing.queries import (
    billing_account_of,
    draft_count,
    drafts_to_review,
    get_invoice,
    get_invoice_for_client,
    list_invoices,
    newest_period,
    overdue_clients,
    page_invoices,
    parse_day,
    parse_period,
)
from metering.billing.review import (
    MAX_HOLD_REASON,
    approve_invoice,
    approve_period,
    get_period_invoice,
    hold_invoice,
    release_invoice,
)
from metering.billing.review_rows import Bill, MonthReview, line_details, month_review
from metering.billing.runs import close_in_one_transaction
from metering.commitments.models import Commitment
from metering.commitments.services import (
    add_commitment,
    committed_quantities,
    end_commitment,
    list_commitments,
)
from metering.credits.balances import InvoiceBalance, balances_for, invoice_balance
from metering.credits.models import (
    CreditApplication,
    CreditNote,
    CreditNoteLine,
    CreditNoteSource,
    CreditNoteStatus,
    Payment,
    PaymentMethod,
    Settlement,
)
from metering.credits.payments import (
    MANUAL_METHODS,
    MAX_PAYMENT_REFERENCE,
    payments_of,
    payments_received_between,
    record_payment,
)
from metering.credits.pdf import credit_note_pdf
from metering.credits.services import (
    MAX_CREDIT_REASON,
    credit_notes_issued_in,
    credit_notes_of,
    get_credit_note,
    issue_credit_note,
)
from metering.figures import last_months, monthly_figures
from metering.ledger.models import IntervalSource, LedgerInterval
from metering.ledger.services import (
    close_seat_interval,
    open_seat_interval,
    open_seat_interval_of,
    open_seat_service_interval,
    record_seat_platform,
    seats_counted_now,
)
from metering.periods import BillingPeriod
from metering.psa.base import PsaError
from metering.psa.mapping import company_links, link_client, link_product, product_links
from metering.psa.models import PsaCompanyLink, PsaProductLink, PsaSync, PsaSyncState
from metering.psa.services import (
    PsaNotConfigured,
    psa_client,
    psa_missing_settings,
    sync_again,
    sync_counts,
    sync_records,
)
from metering.quickbooks.client import missing_settings as quickbooks_missing_settings
from metering.quickbooks.client import quickbooks_settings
from metering.quickbooks.connection import (
    QuickBooksUnreachable,
    authorization_url,
    complete_connection,
    current_connection,
)
from metering.quickbooks.models import (
    ConnectionState,
    QuickBooksConnection,
    QuickBooksRecord,
    RecordKind,
    SyncStatus,
)
from metering.quickbooks.services import (
    Account,
    QuickBooksUnavailable,
    SyncOverview,
    choose_sync_settings,
    income_accounts,
    retry_failed,
    schedule_sync,
    sync_overview,
)
from metering.quickbooks.tasks import sync_quickbooks_now
from metering.rating import Price
from metering.settings import billing_timezone
from metering.spla.filing import (
    MAX_SPLA_REFERENCE,
    differences_since_filing,
    filing_status,
    mark_spla_submitted,
    unfiled_periods,
)
from metering.spla.models import HostVm, LicensedHost, SplaSubmission
from metering.spla.services import (
    SplaReport,
    aws_cost_report,
    programme_report,
    spla_report,
    spla_report_csv,
)
from metering.tax.models import ClientTax, TaxRate, format_rate
from metering.tax.services import client_tax, create_tax_rate, list_tax_rates, set_client_tax
from metering.usage.models import SnapshotAggregate, SnapshotRule, UsageAction, UsageEvent, UsageSnapshot
from metering.usage.queries import MAX_PAGE, UsageFilter, snapshot_json, usage_event_page, usage_snapshot_page
from metering.usage.senders import Sender, UnmappedSources
from metering.usage.services import MAX_USAGE_BATCH, ingest_usage_events
from metering.usage.snapshots import (
    MAX_SNAPSHOT_USERS,
    SnapshotOutcome,
    put_usage_snapshot,
    set_snapshot_aggregate,
    snapshot_rules,
)
from metering.usage.validation import parse_timestamp
from metering.web import init_app

__all__ = [
    "MANUAL_METHODS",
    "MAX_CREDIT_REASON",
    "MAX_HOLD_REASON",
    "MAX_PAGE",
    "MAX_PAYMENT_REFERENCE",
    "MAX_SNAPSHOT_USERS",
    "MAX_SPLA_REFERENCE",
    "MAX_USAGE_BATCH",
    "PLAIN_STATES",
    "Account",
    "Bill",
    "BillingAccount",
    "BillingPeriod",
    "BillingPeriodState",
    "ClientTax",
    "CloseRun",
    "CloseRunStatus",
    "Commitment",
    "ConnectionState",
    "CreditApplication",
    "CreditNote",
    "CreditNoteLine",
    "CreditNoteSource",
    "CreditNoteStatus",
    "HostVm",
    "IntervalSource",
    "Invoice",
    "InvoiceBalance",
    "InvoiceDocument",
    "InvoiceLine",
    "InvoiceStatus",
    "LedgerInterval",
    "LicensedHost",
    "MonthEstimate",
    "MonthReview",
    "Payment",
    "PaymentMethod",
    "Price",
    "PsaCompanyLink",
    "PsaError",
    "PsaNotConfigured",
    "PsaProductLink",
    "PsaSync",
    "PsaSyncState",
    "QuickBooksConnection",
    "QuickBooksRecord",
    "QuickBooksUnavailable",
    "QuickBooksUnreachable",
    "RecordKind",
    "Sender",
    "Settlement",
    "SnapshotAggregate",
    "SnapshotOutcome",
    "SnapshotRule",
    "SplaReport",
    "SplaSubmission",
    "StripeEvent",
    "SyncOverview",
    "SyncStatus",
    "TaxRate",
    "UnmappedSources",
    "UsageAction",
    "UsageEvent",
    "UsageFilter",
    "UsageSnapshot",
    "add_commitment",
    "approve_invoice",
    "approve_period",
    "authorization_url",
    "aws_cost_report",
    "balances_for",
    "billing_account_of",
    "billing_timezone",
    "change_placement",
    "change_price",
    "change_sku_cost",
    "choose_sync_settings",
    "client_tax",
    "close_in_one_transaction",
    "close_refusal",
    "close_run_counts",
    "close_run_json",
    "close_run_progress",
    "close_seat_interval",
    "committed_quantities",
    "company_links",
    "complete_connection",
    "create_tax_rate",
    "credit_note_pdf",
    "credit_notes_issued_in",
    "credit_notes_of",
    "current_connection",
    "differences_since_filing",
    "draft_count",
    "drafts_to_review",
    "effective_month",
    "end_commitment",
    "estimate_month",
    "filing_status",
    "finalize_period",
    "first_unbilled_month",
    "format_rate",
    "get_credit_note",
    "get_invoice",
    "get_invoice_for_client",
    "get_period_invoice",
    "hold_invoice",
    "income_accounts",
    "ingest_usage_events",
    "init_app",
    "invoice_balance",
    "invoice_document",
    "invoice_json",
    "invoice_pdf",
    "invoices_json",
    "is_open",
    "issue_credit_note",
    "last_months",
    "latest_close_run",
    "line_details",
    "link_client",
    "link_product",
    "list_commitments",
    "list_invoices",
    "list_tax_rates",
    "mark_paid",
    "mark_payment_failed",
    "mark_spla_submitted",
    "month_review",
    "monthly_figures",
    "newest_period",
    "open_seat_interval",
    "open_seat_interval_of",
    "open_seat_service_interval",
    "overdue_clients",
    "page_invoices",
    "parse_day",
    "parse_period",
    "parse_timestamp",
    "payments_of",
    "payments_received_between",
    "product_links",
    "product_price",
    "programme_report",
    "psa_client",
    "psa_missing_settings",
    "put_usage_snapshot",
    "quickbooks_missing_settings",
    "quickbooks_settings",
    "record_payment",
    "record_seat_platform",
    "release_invoice",
    "render_invoice_html",
    "retry_failed",
    "schedule_sync",
    "seats_counted_now",
    "set_client_tax",
    "set_snapshot_aggregate",
    "snapshot_json",
    "snapshot_rules",
    "spla_report",
    "spla_report_csv",
    "start_close_run",
    "state_label",
    "sync_again",
    "sync_counts",
    "sync_overview",
    "sync_quickbooks_now",
    "sync_records",
    "unfiled_periods",
    "usage_event_page",
    "usage_snapshot_page",
]
