"""One HTTP request to a webhook endpoint: where it may go, how it is signed, what is read back.

A URL is checked before it is saved and again before every request: only http(s); the host is
resolved and every address it resolves to must be public unless the endpoint allows private
targets (otherwise a reseller's URL could reach the database or the cloud's metadata service from
inside the colo). The request then goes to the address that was checked, not to a second lookup,
so DNS cannot swap in a private address in between. Redirects are not followed, the timeout is
short and at most ``max_response_bytes`` of the answer are read.
"""

from __future__ import annotations

import ipaddress
import json
import socket
import time
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

import urllib3
from standardwebhooks.webhooks import Webhook

from portal.errors import InvalidInput

USER_AGENT = "Seatmeter-Webhooks/1"


@dataclass(frozen=True)
class Target:
    """A checked URL: where to connect (``address``) and what to ask for there."""

    scheme: str
    host: str
    port: int
    path: str
    address: str

    @property
    def host_header(self) -> str:
        default = 443 if self.scheme == "https" else 80
        name = f"[{self.host}]" if ":" in self.host else self.host
        return name if self.port == default else f"{name}:{self.port}"


def _refused(message: str) -> InvalidInput:
    return InvalidInput(message, fields={"url": message})


def is_public(address: str) -> bool:
    """A globally routable unicast address (not loopback, link-local, private, shared or reserved)."""
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip.is_global and not ip.is_multicast


def check_url(url: str, *, allow_private: bool) -> Target:
    """The URL's target if it may receive webhooks; InvalidInput saying why not, in plain words."""
    text = url.strip()
    try:
        parts = urlsplit(text)
        port = parts.port
    except ValueError:
        raise _refused("This is not a valid URL.") from None
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https"):
        raise _refused("The URL must start with https:// (or http://).")
    host = parts.hostname
    if not host:
        raise _refused("The URL has no host name.")
    if parts.username is not None or parts.password is not None:
        raise _refused("Leave the user name and password out of the URL; the secret signs each request.")
    port = port or (443 if scheme == "https" else 80)
    try:
        found = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError):
        raise _refused(f"The host {host} could not be found.") from None
    addresses = list(dict.fromkeys(str(info[4][0]) for info in found))
    if not addresses:
        raise _refused(f"The host {host} could not be found.")
    if not allow_private:
        private = [a for a in addresses if not is_public(a)]
        if private:
            raise _refused(
                f"The host {host} points at a loopback, link-local or private address ({private[0]}). "
                "Webhooks go only to public addresses unless you allow private targets for this endpoint."
            )
    path = parts.path or "/"
    if parts.query:
        path += "?" + parts.query
    return Target(scheme=scheme, host=host, port=port, path=path, address=addresses[0])


def sign(secret: str, message_id: str, at: datetime, body: str) -> str:
    """The ``webhook-signature`` header of the Standard Webhooks specification."""
    return Webhook(secret).sign(message_id, at, body)


def encode(payload: dict[str, Any]) -> str:
    return json.dumps(payload, separators=(",", ":"), sort_keys=True)


@dataclass(frozen=True)
class Result:
    response_code: int | None
    duration_ms: int
    error: str | None

    @property
    def succeeded(self) -> bool:
        return self.error is None


def post(
    target: Target,
    headers: dict[str, str],
    body: str,
    *,
    timeout_seconds: float,
    max_response_bytes: int,
) -> Result:
    """POST ``body`` to the checked target once: no retries, no redirects, a capped read."""
    pool_kwargs: dict[str, Any] = {
        "timeout": urllib3.Timeout(connect=timeout_seconds, read=timeout_seconds),
        "retries": False,
        "maxsize": 1,
    }
    if target.scheme == "https":
        pool: urllib3.HTTPConnectionPool = urllib3.HTTPSConnectionPool(
            target.address,
            target.port,
            server_hostname=target.host,
            assert_hostname=target.host,
            cert_reqs="CERT_REQUIRED",
            **pool_kwargs,
        )
    else:
        pool = urllib3.HTTPConnectionPool(target.address, target.port, **pool_kwargs)
    started = time.monotonic()
    code: int | None = None
    try:
        response = pool.urlopen(
            "POST",
            target.path,
            body=body.encode(),
            headers={
                "Host": target.host_header,
                "Content-Type": "application/json",
                "User-Agent": USER_AGENT,
                **headers,
            },
            redirect=False,
            preload_content=False,
        )
        try:
            code = response.status
            answer = response.read(max_response_bytes)
        finally:
            response.release_conn()
    except urllib3.exceptions.HTTPError as error:
        return Result(code, _elapsed_ms(started), _plain_error(error))
    finally:
        pool.close()
    elapsed = _elapsed_ms(started)
    if 200 <= code < 300:
        return Result(code, elapsed, None)
    if 300 <= code < 400:
        return Result(code, elapsed, "The endpoint answered with a redirect; redirects are not followed.")
    snippet = answer[:200].decode("utf-8", errors="replace").strip()
    return Result(code, elapsed, f"The endpoint answered {code}" + (f": {snippet}" if snippet else "."))


def _elapsed_ms(started: float) -> int:
    return round((time.monotonic() - started) * 1000)


def _plain_error(error: Exception) -> str:
    if isinstance(error, urllib3.exceptions.TimeoutError):
        return "The endpoint did not answer in time."
    if isinstance(error, urllib3.exceptions.SSLError):
        return f"The TLS connection failed: {error}"
    if isinstance(error, urllib3.exceptions.NewConnectionError):
        return "The endpoint refused the connection or could not be reached."
    return f"The request failed: {error}"
