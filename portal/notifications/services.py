"""Outgoing e-mail: over SMTP when MAIL_SERVER is set, otherwise written to the log.

E-mail is always sent after the transaction that caused it commits, so nobody receives a link to
a token that was rolled back.
"""

from __future__ import annotations

import logging
import smtplib
import ssl
from collections.abc import Callable
from email.message import EmailMessage
from typing import Any

from flask import current_app
from sqlalchemy import select

from portal.accounts.models import Reseller
from portal.db import after_commit, db

log = logging.getLogger("seatmeter.mail")


def public_link(endpoint: str, **values: Any) -> str:
    """An absolute link into the portal for an e-mail, valid outside any request."""
    adapter = current_app.url_map.bind("localhost")
    return current_app.config["PUBLIC_URL"] + adapter.build(endpoint, values)


def _open_smtp() -> smtplib.SMTP:
    config = current_app.config
    smtp = smtplib.SMTP(config["MAIL_SERVER"], config["MAIL_PORT"], timeout=15)
    try:
        if config["MAIL_USE_TLS"]:
            smtp.starttls(context=ssl.create_default_context())
        if config["MAIL_USERNAME"]:
            smtp.login(config["MAIL_USERNAME"], config["MAIL_PASSWORD"] or "")
    except BaseException:
        smtp.close()
        raise
    return smtp


def send_email_now(to: str, subject: str, body: str) -> None:
    config = current_app.config
    message = EmailMessage()
    message["From"] = config["MAIL_FROM"]
    message["To"] = to
    message["Subject"] = subject
    message.set_content(body)
    send_message_now(message, body)


def send_message_now(message: EmailMessage, text: str) -> None:
    """Send a message built by the caller (HTML, attachments); ``text`` is what the log shows without SMTP."""
    config = current_app.config
    if not message["From"]:
        message["From"] = config["MAIL_FROM"]
    if not config["MAIL_SERVER"]:
        log.info(
            "E-mail not sent (MAIL_SERVER is not set):\nTo: %s\nSubject: %s\n\n%s",
            message["To"],
            message["Subject"],
            text,
        )
        return
    with _open_smtp() as smtp:
        smtp.send_message(message)
    log.info("E-mail sent to %s: %s", message["To"], message["Subject"])


def _after_commit_in_app(what: str, work: Callable[[], None]) -> None:
    app = current_app._get_current_object()  # type: ignore[attr-defined]

    def _run() -> None:
        with app.app_context():
            try:
                work()
            except (OSError, smtplib.SMTPException):
                # The change itself is committed; a mail server outage must not turn it into an
                # error page. The operator sees this in the log and the user can ask again.
                log.exception("Could not %s", what)

    after_commit(db.session, _run)


def sender_signature() -> str:
    """Who the e-mail is from, as the reseller's profile says: its name and how to reach its support."""
    reseller = db.session.scalars(select(Reseller).order_by(Reseller.id).limit(1)).first()
    if reseller is None:
        return ""
    contact = " · ".join(value for value in (reseller.support_email, reseller.support_phone) if value)
    return f"\n-- \n{reseller.name}\n{contact}\n" if contact else f"\n-- \n{reseller.name}\n"


def send_email_after_commit(to: str, subject: str, body: str) -> None:
    # Signed now, inside the transaction: after the commit the session may no longer read.
    signed = body + sender_signature()
    _after_commit_in_app(f"send e-mail to {to} ({subject})", lambda: send_email_now(to, subject, signed))


def _talk_to_mail_server() -> None:
    if not current_app.config["MAIL_SERVER"]:
        return
    with _open_smtp() as smtp:
        smtp.ehlo_or_helo_if_needed()
        smtp.noop()


def talk_to_mail_server_after_commit() -> None:
    """After the commit, the SMTP conversation of a send (connect, TLS, log in) without a message.

    The mail of a request is sent before the response goes out, and talking to the mail server is
    most of its time. A request that sends nothing to keep a secret (no account for this address)
    does this instead, like the dummy password hash of a login: both answers take as long.
    """
    _after_commit_in_app("reach the mail server", _talk_to_mail_server)
