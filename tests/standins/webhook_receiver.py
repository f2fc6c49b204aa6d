"""A webhook receiver in its own process on 127.0.0.1: verifies every request with ``standardwebhooks``.

``python -m tests.standins.webhook_receiver --port N --secret whsec_… [--fail-first K]`` answers 500
to the first K deliveries it verifies, then 200. A request whose signature does not verify gets 401.
A POST to a path ending in ``/redirect`` is answered with a 307 to ``/hooks``.
``GET /received`` lists every request as JSON: webhook-id, type, whether it verified, the answer.
The ``webhook_receiver`` fixture (tests/portal/webhooks_out/conftest.py) starts and stops it.
"""

from __future__ import annotations

import argparse
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from standardwebhooks.webhooks import Webhook, WebhookVerificationError


class Receiver:
    def __init__(self, secret: str, fail_first: int) -> None:
        self.webhook = Webhook(secret)
        self.fail_first = fail_first
        self.received: list[dict[str, Any]] = []
        self.lock = threading.Lock()

    def handle(self, body: bytes, headers: dict[str, str]) -> int:
        entry: dict[str, Any] = {"id": headers.get("webhook-id"), "type": None, "verified": False}
        try:
            payload = self.webhook.verify(body, headers)
        except WebhookVerificationError as error:
            entry["error"] = str(error)
            status = 401
        else:
            entry["verified"] = True
            entry["type"] = payload["type"]
            entry["data"] = payload["data"]
            with self.lock:
                verified_so_far = sum(1 for e in self.received if e["verified"])
            status = 500 if verified_so_far < self.fail_first else 200
        entry["status"] = status
        with self.lock:
            self.received.append(entry)
        return status


def serve(port: int, receiver: Receiver) -> None:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            headers = {name.lower(): value for name, value in self.headers.items()}
            status = receiver.handle(body, headers)
            if self.path.endswith("/redirect"):
                # Somewhere else: a sender that followed it would POST to /hooks next.
                status = 307
                receiver.received[-1]["status"] = status
            self.send_response(status)
            if status == 307:
                self.send_header("Location", "/hooks")
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"ok" if status == 200 else b"no")

        def do_GET(self) -> None:
            with receiver.lock:
                answer = json.dumps(receiver.received).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(answer)))
            self.end_headers()
            self.wfile.write(answer)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    ThreadingHTTPServer(("127.0.0.1", port), Handler).serve_forever()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--secret", required=True)
    parser.add_argument("--fail-first", type=int, default=0)
    options = parser.parse_args()
    serve(options.port, Receiver(options.secret, options.fail_first))


if __name__ == "__main__":
    main()
