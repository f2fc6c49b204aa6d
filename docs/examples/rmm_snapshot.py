#!/usr/bin/env python3
"""Send today's licence and device counts from an RMM export to Seatmeter, then read them back.

Run it on a schedule (once a day is plenty) after your RMM writes its export. The input is a JSON
file shaped like what NinjaOne, Datto RMM or N-able can export per organisation:

    {"as_of": "2026-11-03T02:00:00Z",
     "organisations": [
        {"id": "org-17",
         "licensed_users": {"desktop": ["ann@acme.example", "bob@acme.example"]},
         "devices": {"rmm-agents": 12}}]}

Usage:
    SEATMETER_TOKEN=smt_... python rmm_snapshot.py --url https://portal.example.com \\
        --source ninjaone export.json

Each organisation/product pair becomes one ``PUT /api/v1/usage-snapshots``. Sending the same file
twice changes nothing, so a retry after a network error is always safe. An organisation id that
is not mapped to a client yet is reported (exit status 2) and listed on the reseller console under
Integrations, where it can be mapped; the other snapshots are still sent.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any

import requests

TIMEOUT = 30


def snapshots_of(export: dict[str, Any], source: str) -> list[dict[str, Any]]:
    """One snapshot body per organisation and product of the export."""
    bodies = []
    for organisation in export["organisations"]:
        base = {"source": source, "external_org": organisation["id"], "as_of": export["as_of"]}
        for product, users in sorted(organisation.get("licensed_users", {}).items()):
            bodies.append(base | {"product": product, "users": users})
        for product, quantity in sorted(organisation.get("devices", {}).items()):
            bodies.append(base | {"product": product, "quantity": quantity})
    return bodies


def send(session: requests.Session, url: str, bodies: list[dict[str, Any]]) -> int:
    """PUT each snapshot; returns how many were refused (unmapped organisations, unknown products)."""
    refused = 0
    for body in bodies:
        response = session.put(f"{url}/api/v1/usage-snapshots", json=body, timeout=TIMEOUT)
        what = f"{body['external_org']} / {body['product']}"
        if response.ok:
            print(f"{what}: {response.json()['outcome']}")
        elif response.status_code in (403, 422):
            refused += 1
            print(f"{what}: refused: {response.json()['error']['message']}", file=sys.stderr)
        else:
            response.raise_for_status()
    return refused


def read_back(session: requests.Session, url: str, since: str) -> list[dict[str, Any]]:
    """Every snapshot this token sent from ``since`` on, following the keyset cursor page by page."""
    found: list[dict[str, Any]] = []
    params: dict[str, Any] = {"since": since, "limit": 100}
    while True:
        response = session.get(f"{url}/api/v1/usage-snapshots", params=params, timeout=TIMEOUT)
        response.raise_for_status()
        page = response.json()
        found.extend(page["snapshots"])
        if page["next_after"] is None:
            return found
        params["after"] = page["next_after"]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("export", type=Path, help="The RMM export (JSON).")
    parser.add_argument("--url", required=True, help="The portal's address, e.g. https://portal.example.com")
    parser.add_argument("--source", required=True, help="The integration's source name, e.g. ninjaone")
    args = parser.parse_args(argv)
    token = os.environ.get("SEATMETER_TOKEN")
    if not token:
        parser.error("set SEATMETER_TOKEN to the integration's token (Integrations page on the console)")

    export = json.loads(args.export.read_text(encoding="utf-8"))
    url = args.url.rstrip("/")
    with requests.Session() as session:
        session.headers["Authorization"] = f"Bearer {token}"
        refused = send(session, url, snapshots_of(export, args.source))
        accepted = read_back(session, url, export["as_of"])
    print(f"Seatmeter holds {len(accepted)} snapshots from {export['as_of']} on.")
    return 2 if refused else 0


if __name__ == "__main__":
    sys.exit(main())
