"""The Stripe API version is pinned in one place, to the version the installed library is typed for,
and `make lint` (mypy) refuses a Stripe call with a parameter that version does not accept."""

from __future__ import annotations

import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
import stripe
from stripe._api_version import _ApiVersion

from metering.billing.stripe_push import STRIPE_API_VERSION, stripe_client

REPO = Path(__file__).resolve().parents[3]


def test_the_pinned_version_is_the_one_the_library_is_typed_for(app):
    # A new stripe major changes this: bump STRIPE_API_VERSION (and the cap in pyproject.toml) on purpose.
    assert STRIPE_API_VERSION == _ApiVersion.CURRENT
    assert stripe.api_version == STRIPE_API_VERSION
    app.config["STRIPE_API_KEY"] = "sk_test_pinned"
    assert stripe_client()._requestor._options.stripe_version == STRIPE_API_VERSION  # every request
    major = int(stripe.VERSION.split(".")[0])
    dependencies = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["dependencies"]
    (pin,) = [line for line in dependencies if line.startswith("stripe")]
    assert f"<{major + 1}" in pin


def test_every_module_that_uses_stripe_is_type_checked():
    configured = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["mypy"]["files"]
    uses_stripe = {
        str(path.relative_to(REPO))
        for package in ("portal", "provisioning", "metering")
        for path in (REPO / package).rglob("*.py")
        if re.search(r"^(import stripe|from stripe\b)", path.read_text(), re.MULTILINE)
    }
    covered = {
        module for module in uses_stripe if any(module == f or module.startswith(f + "/") for f in configured)
    }
    assert covered == uses_stripe


VALID = """
import stripe


def open_setup(client_api: stripe.StripeClient, customer: str) -> None:
    client_api.v1.checkout.sessions.create(
        params={"mode": "setup", "customer": customer, "allowed_payment_method_types": ["card"]}
    )
    client_api.v1.invoice_items.create(params={"customer": customer, "invoice": "in_1", "amount": 100})
"""

INVALID = """
import stripe


def open_setup(client_api: stripe.StripeClient, customer: str) -> None:
    client_api.v1.checkout.sessions.create(
        params={"mode": "setup", "customer": customer, "payment_method_types": ["card"]}
    )


def bill(client_api: stripe.StripeClient, customer: str) -> None:
    client_api.v1.invoices.create(params={"customer": customer, "pending_invoice_item_behavior": "exclude"})
    client_api.v1.invoice_items.create(params={"customer": customer, "amount": "12.50"})
"""


@pytest.mark.slow
def test_mypy_refuses_a_parameter_the_pinned_version_does_not_take(tmp_path):
    (tmp_path / "valid_calls.py").write_text(VALID)
    (tmp_path / "invalid_calls.py").write_text(INVALID)

    run = subprocess.run(
        [sys.executable, "-m", "mypy", "--config-file", "pyproject.toml", str(tmp_path)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=600,
    )

    assert run.returncode == 1, run.stdout + run.stderr
    errors = [line for line in run.stdout.splitlines() if ": error:" in line]
    assert {line.split(":")[0].rsplit("/", 1)[-1] for line in errors} == {"invalid_calls.py"}
    # The setup session's payment_method_types, a misspelt name, money as a string of decimals.
    assert [int(line.split(":")[1]) for line in errors] == [7, 12, 13], run.stdout
