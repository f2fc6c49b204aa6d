"""Billing over the API: invoices (JSON and PDF), month close and finalize, the SPLA report (JSON, CSV).

A client token sees its own issued invoices; a reseller token sees every invoice, drafts included,
and may narrow them with ``?client=``. Closing, finalizing and the SPLA report are the reseller's.
"""

from __future__ import annotations

from typing import Any

from flask import Response, request

from metering import (
    Invoice,
    billing_timezone,
    close_in_one_transaction,
    finalize_period,
    get_invoice,
    get_invoice_for_client,
    invoice_json,
    invoice_pdf,
    invoices_json,
    page_invoices,
    parse_period,
    spla_report,
    spla_report_csv,
)
from portal.accounts.models import Client
from portal.accounts.services import get_client_by_ref, get_reseller
from portal.api import bp, openapi
from portal.api.auth import (
    ACCOUNT_READERS,
    RESELLER_READERS,
    RESELLER_WRITERS,
    api_actor,
    current_token,
    token_required,
)
from portal.api.billing_schemas import PERIOD_PATTERN, period_parameter
from portal.api.bodies import MAX_ID, Body, Text
from portal.api.endpoints import endpoint
from portal.api.openapi import PREFIX, error_response
from portal.api.paging import DEFAULT_LIMIT, document_list, list_query, next_link
from portal.db import utcnow
from portal.errors import NotFound
from portal.listing import clean_search

PERIOD_BODY = Body(
    {
        "period": Text(
            description="The month, YYYY-MM.",
            required=True,
            max_length=7,
            pattern=PERIOD_PATTERN.strip("^$"),
            problem="Write the month as YYYY-MM, e.g. 2026-10.",
        )
    }
)
_INVALID_PERIOD = "`period` is not a month written YYYY-MM."


def _document_query(path: str, parameters: list[dict[str, Any]], errors: dict[int, str]) -> None:
    """Add query parameters and the errors they can cause to an operation @endpoint documented."""
    operation = openapi.DOCUMENT["paths"][PREFIX + path]["get"]
    operation.setdefault("parameters", []).extend(parameters)
    for status, description in errors.items():
        operation["responses"].setdefault(str(status), error_response(description))


def _scope() -> Client | None:
    """The client whose invoices a token may see: its own, or (reseller) ``?client=`` or everyone."""
    token = current_token()
    ref = request.args.get("client") or None
    if token.client is not None:
        if ref is not None and ref.strip().lower() != token.client.ref:
            raise NotFound("No client with this reference.")
        return token.client
    return get_client_by_ref(ref) if ref is not None else None


def _visible_invoice(invoice_id: int) -> Invoice:
    if not 1 <= invoice_id <= MAX_ID:
        raise NotFound("There is nothing at this address.")
    token = current_token()
    if token.client is not None:
        return get_invoice_for_client(token.client, invoice_id)
    return get_invoice(invoice_id)


INVOICE_PAGE = list_query("invoices", search="client's name or reference")


@endpoint(
    "GET",
    "/invoices",
    summary="Invoices, newest month first",
    description="A client token sees its own finalized, paid or overdue invoices; a reseller token sees "
    "every invoice including drafts, or one client's with `?client=`. Every line carries the month it "
    "bills: adjustment lines bill an earlier month.",
    tag="billing",
    roles=ACCOUNT_READERS,
    ok_schema="InvoiceList",
    query=INVOICE_PAGE,
)
def get_invoices(query: dict[str, Any]) -> dict[str, Any]:
    raw_period = request.args.get("period")
    period = parse_period(raw_period) if raw_period is not None else None
    client = _scope()
    include_drafts = current_token().client is None
    page = page_invoices(
        list_name="api.invoices",
        cursor=query.get("cursor"),
        limit=query.get("limit", DEFAULT_LIMIT),
        client=client,
        period=period,
        include_drafts=include_drafts,
        search=clean_search(query.get("q")),
    )
    return {"invoices": invoices_json(page.rows), "next": next_link(page)}


_document_query(
    "/invoices",
    [
        period_parameter(False, "Only this month's invoices."),
        {"$ref": "#/components/parameters/Client"},
    ],
    {404: "No such client (or not this token's client).", 422: _INVALID_PERIOD},
)
document_list("/invoices")


@endpoint(
    "GET",
    "/invoices/{invoice_id}",
    summary="One invoice",
    tag="billing",
    roles=ACCOUNT_READERS,
    ok_schema="Invoice",
)
def get_one_invoice(invoice_id: int) -> dict[str, Any]:
    return invoice_json(_visible_invoice(invoice_id))


def _pdf(invoice_id: int) -> Response:
    invoice = _visible_invoice(invoice_id)
    response = Response(invoice_pdf(invoice, get_reseller()), mimetype="application/pdf")
    response.headers["Content-Disposition"] = f'attachment; filename="invoice-{invoice.number}.pdf"'
    return response


def _binary_operation(
    operation_id: str, summary: str, media_type: str, roles: tuple[Any, ...]
) -> dict[str, Any]:
    return {
        "operationId": operation_id,
        "summary": summary,
        "description": "Roles: " + ", ".join(role.value for role in roles) + ".",
        "tags": ["billing"],
        "responses": {
            "200": {"description": "OK.", "content": {media_type: {"schema": {"type": "string"}}}},
            "401": error_response("No token, or a token that is not valid or was revoked."),
            "403": error_response("The token's role may not do this."),
        },
    }


def _route(path: str, view: Any, roles: tuple[Any, ...], operation: dict[str, Any]) -> None:
    rule = path.replace("{invoice_id}", "<int:invoice_id>")
    bp.add_url_rule(rule, endpoint=view.__name__, view_func=token_required(*roles)(view), methods=["GET"])
    openapi.add_operation(path, "GET", operation)


def get_invoice_pdf(invoice_id: int) -> Response:
    return _pdf(invoice_id)


_pdf_operation = _binary_operation(
    "get_invoice_pdf", "One invoice as a PDF", "application/pdf", ACCOUNT_READERS
)
_pdf_operation["parameters"] = [openapi.path_parameter("invoice_id")]
_pdf_operation["responses"]["404"] = error_response("No such invoice (or not this client's).")
_route("/invoices/{invoice_id}/pdf", get_invoice_pdf, ACCOUNT_READERS, _pdf_operation)


@endpoint(
    "POST",
    "/billing/close",
    summary="Close a month: build or rebuild each client's draft invoice",
    description="Each client is closed on its own: one that fails is listed in `failed` and the others "
    "keep their drafts. The request commits once, at its end; one that breaks off leaves nothing behind. "
    "Running it again rebuilds the month's drafts (late events are picked up) and never makes a second "
    "invoice for a client and month.",
    tag="billing",
    roles=RESELLER_WRITERS,
    body=PERIOD_BODY,
    ok_schema="MonthClosed",
    conflict="The month is not over yet, or it is already finalized.",
)
def close_month(body: dict[str, Any]) -> dict[str, Any]:
    period = parse_period(body["period"])
    # All in this request's transaction (each client in a savepoint), committed once by @endpoint
    # together with the Idempotency-Key: a close that fails midway leaves no key stuck "running".
    summary = close_in_one_transaction(api_actor(), period, billing_timezone(), utcnow())
    return {
        "period": str(period),
        "clients": summary.clients,
        "outcomes": dict(summary.outcomes),
        "failed": summary.failures,
    }


@endpoint(
    "POST",
    "/billing/finalize",
    summary="Finalize a closed month's drafts",
    description="Finalized invoices never change and are sent to Stripe for payment; usage that "
    "arrives later for the month is billed as adjustment lines on the next invoice.",
    tag="billing",
    roles=RESELLER_WRITERS,
    body=PERIOD_BODY,
    ok_schema="MonthFinalized",
    conflict="The month is not over or has not been closed yet.",
)
def finalize_month(body: dict[str, Any]) -> dict[str, Any]:
    period = parse_period(body["period"])
    return {
        "period": str(period),
        "finalized": len(finalize_period(api_actor(), period, billing_timezone(), utcnow())),
    }


@endpoint(
    "GET",
    "/spla-report",
    summary="The month's SPLA report: distinct users per client and SKU, and per-core packs",
    description="Lines with a zero quantity are left out; a month without usage gives an empty list, "
    "which is still the month's report. Shared per-core hosts have `client: null`.",
    tag="billing",
    roles=RESELLER_READERS,
    ok_schema="SplaReport",
)
def get_spla_report() -> dict[str, Any]:
    report = spla_report(parse_period(request.args.get("period")), billing_timezone())
    return {
        "period": str(report.period),
        "lines": [
            {"client": line.client, "sku": line.sku, "quantity": line.quantity} for line in report.lines
        ],
    }


_document_query("/spla-report", [period_parameter(True, "The month to report.")], {422: _INVALID_PERIOD})


def get_spla_report_csv() -> Response:
    report = spla_report(parse_period(request.args.get("period")), billing_timezone())
    response = Response(spla_report_csv(report), mimetype="text/csv")
    response.headers["Content-Disposition"] = f'attachment; filename="spla-{report.period}.csv"'
    return response


_csv_operation = _binary_operation(
    "get_spla_report_csv", "The SPLA report as CSV for the distributor", "text/csv", RESELLER_READERS
)
_csv_operation["parameters"] = [period_parameter(True, "The month to report.")]
_csv_operation["responses"]["422"] = error_response(_INVALID_PERIOD)
_route("/spla-report.csv", get_spla_report_csv, RESELLER_READERS, _csv_operation)
