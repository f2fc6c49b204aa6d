"""An invoice as a PDF: the document template (``billing/document_pdf.html``) rendered by WeasyPrint.

The same partial (``billing/_document.html``) and stylesheet (``invoice_document.css``) make the
client's invoice page, so the page and the PDF never disagree. Fonts come from the system
(fontconfig): DejaVu Sans or Noto Sans, installed by ``.ci/system-packages``, cover Latin, Greek,
Cyrillic and the euro sign. Nothing outside the document is fetched: the logo travels as a data URI.
"""

from __future__ import annotations

import logging
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from flask import current_app, render_template
from weasyprint import CSS, HTML, URLFetcher

from metering.billing.documents import invoice_document
from metering.billing.models import Invoice
from metering.settings import billing_timezone
from portal.accounts.models import Reseller
from portal.db import utcnow

STYLESHEET = "invoice_document.css"

# WeasyPrint and fontTools report each font subset at INFO; a PDF per request would flood the log.
for _name in ("weasyprint", "fontTools"):
    logging.getLogger(_name).setLevel(logging.WARNING)


def render_invoice_html(
    invoice: Invoice, reseller: Reseller | None, tz: ZoneInfo | None = None, now: datetime | None = None
) -> str:
    document = invoice_document(invoice, reseller, tz or billing_timezone(), now or utcnow())
    return render_template("billing/document_pdf.html", doc=document)


def invoice_pdf(
    invoice: Invoice, reseller: Reseller | None, tz: ZoneInfo | None = None, now: datetime | None = None
) -> bytes:
    html = render_invoice_html(invoice, reseller, tz, now)
    stylesheet = CSS(filename=str(Path(current_app.static_folder or "") / STYLESHEET))
    # Only data: URIs (the logo) are read; a stray link in a description never reaches the network.
    fetcher = URLFetcher(allowed_protocols={"data"})
    pdf = HTML(string=html, url_fetcher=fetcher).write_pdf(stylesheets=[stylesheet])
    assert pdf is not None
    return pdf
