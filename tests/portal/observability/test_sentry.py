"""The Sentry hook: off without a DSN; with one, a view's exception reaches Sentry's envelope
endpoint (a receiver on 127.0.0.1 standing in for sentry.io), without the visitor's cookies."""

from __future__ import annotations

import gzip
import secrets
import threading
import zlib
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import sentry_sdk

from portal import create_app
from tests.conftest import app_overrides


class Receiver(BaseHTTPRequestHandler):
    bodies: list[tuple[str, bytes]] = []

    def do_POST(self) -> None:
        raw = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        encoding = self.headers.get("Content-Encoding", "")
        if encoding == "gzip":
            raw = gzip.decompress(raw)
        elif encoding == "deflate":
            raw = zlib.decompress(raw)
        elif encoding == "br":
            import brotli  # only if the SDK found it installed

            raw = brotli.decompress(raw)
        type(self).bodies.append((self.path, raw))
        self.send_response(200)
        self.end_headers()
        self.wfile.write(b"{}")

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def sentry_receiver() -> Iterator[tuple[str, list[tuple[str, bytes]]]]:
    Receiver.bodies = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), Receiver)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://publickey@127.0.0.1:{server.server_address[1]}/42", Receiver.bodies
    sentry_sdk.get_client().close()
    sentry_sdk.init()  # no DSN: the SDK is off again for the rest of the run
    server.shutdown()
    server.server_close()


def test_without_a_dsn_sentry_stays_off(database_url, tmp_path):
    app = create_app(app_overrides(database_url, tmp_path / "instance"))
    assert app.config["SENTRY_DSN"] is None
    assert not sentry_sdk.get_client().is_active()


def test_a_views_exception_is_delivered_to_the_dsn_without_cookies(database_url, tmp_path, sentry_receiver):
    dsn, bodies = sentry_receiver
    app = create_app({**app_overrides(database_url, tmp_path / "instance"), "SENTRY_DSN": dsn})
    assert not sentry_sdk.get_client().should_send_default_pii()
    integrations = {type(i).__name__ for i in sentry_sdk.get_client().integrations.values()}
    assert {"FlaskIntegration", "CeleryIntegration"} <= integrations

    def broken_view() -> str:
        raise RuntimeError("the price book is missing a month")

    app.add_url_rule("/broken-for-sentry", "broken_for_sentry", broken_view)
    app.config["PROPAGATE_EXCEPTIONS"] = False
    client = app.test_client()
    cookie = "cookie-" + secrets.token_hex(8)  # made here, so the stack's source lines do not hold it
    client.set_cookie("seatmeter_session", cookie)
    response = client.get("/broken-for-sentry")
    assert response.status_code == 500
    sentry_sdk.flush(timeout=10)

    [(path, envelope)] = [(p, b) for p, b in bodies if b"the price book is missing a month" in b]
    assert path == "/api/42/envelope/"
    assert b"RuntimeError" in envelope
    assert b"broken_for_sentry" in envelope  # the Flask endpoint names the transaction
    assert cookie.encode() not in envelope
