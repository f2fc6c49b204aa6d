"""E-mails are signed with the reseller's name and support contacts from its profile."""

from __future__ import annotations

import logging

from portal.accounts.profile_services import ResellerProfile, update_reseller_profile
from portal.audit.services import Actor
from portal.db import db
from portal.notifications.services import send_email_after_commit


def test_an_email_is_signed_with_the_resellers_profile(app, caplog):
    update_reseller_profile(
        Actor.system("tests"),
        ResellerProfile(
            name="Northwind Managed IT",
            support_email="help@northwind-it.example",
            support_phone="+44 117 000 0000",
            payment_terms_days=14,
        ),
    )
    caplog.set_level(logging.INFO, logger="seatmeter.mail")

    send_email_after_commit("ap@acme.example", "Your invoice", "Hello,\n\nYour invoice is ready.\n")
    db.session.commit()

    (sent,) = [record.getMessage() for record in caplog.records if "Your invoice" in record.getMessage()]
    assert sent.endswith(
        "Your invoice is ready.\n\n-- \nNorthwind Managed IT\nhelp@northwind-it.example · +44 117 000 0000\n"
    )


def test_nothing_is_added_before_the_reseller_exists(app, caplog):
    caplog.set_level(logging.INFO, logger="seatmeter.mail")

    send_email_after_commit("ap@acme.example", "Hello", "Body.\n")
    db.session.commit()

    (sent,) = [record.getMessage() for record in caplog.records if "Subject: Hello" in record.getMessage()]
    assert sent.endswith("Body.\n")
