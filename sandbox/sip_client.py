"""A deliberately small SIP user-agent client over UDP, standard library only.

It exists so tests can ask "can this seat register?" against the Kamailio stand-in without a SIP
stack dependency. It implements just enough of RFC 3261 / RFC 2617:

* one non-INVITE client transaction per request, retransmitted on UDP with T1 doubling up to T2
  (Timer E), then at T2 after a provisional reply, until `timeout` runs out;
* responses are matched on Via branch and CSeq, so late retransmissions of an earlier answer
  (e.g. a second copy of the 401) are ignored instead of being taken as the final answer;
* a 401/407 digest challenge (MD5, qop=auth when offered, else RFC 2069 style) is answered once.
  A second challenge is the final answer: that is how a registrar says "wrong password".

A missing answer raises `TimeoutError`; everything else returns the final status code.
"""

from __future__ import annotations

import hashlib
import re
import secrets
import socket
import time
from dataclasses import dataclass, field

T1 = 0.5  # RFC 3261 round-trip estimate; first retransmission interval
T2 = 4.0  # cap on the retransmission interval for non-INVITE requests
USER_AGENT = "seatmeter-tests/1.0"

# RFC 3261 compact header forms that a server may use in responses.
_COMPACT = {"v": "via", "i": "call-id", "f": "from", "t": "to", "m": "contact", "l": "content-length"}
_PARAM_RE = re.compile(r'([\w-]+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^\s,]+))')


@dataclass
class Response:
    status: int
    reason: str
    headers: dict[str, list[str]] = field(default_factory=dict)

    def header(self, name: str) -> str | None:
        values = self.headers.get(name.lower())
        return values[0] if values else None


def parse_response(data: bytes) -> Response | None:
    """Parse a SIP response datagram; None if it is not a response (e.g. a stray request)."""
    text = data.decode("utf-8", errors="replace")
    head = text.split("\r\n\r\n", 1)[0]
    lines = head.split("\r\n")
    match = re.match(r"SIP/2\.0 (\d{3}) ?(.*)", lines[0])
    if not match:
        return None
    headers: dict[str, list[str]] = {}
    for line in lines[1:]:
        if line[:1] in (" ", "\t") and headers:  # folded continuation line
            last = next(reversed(headers))
            headers[last][-1] += " " + line.strip()
            continue
        name, _, value = line.partition(":")
        key = name.strip().lower()
        headers.setdefault(_COMPACT.get(key, key), []).append(value.strip())
    return Response(int(match.group(1)), match.group(2), headers)


def parse_challenge(value: str) -> dict[str, str]:
    """Parameters of a `Digest ...` WWW-/Proxy-Authenticate value, keys lower-cased."""
    scheme, _, rest = value.strip().partition(" ")
    if scheme.lower() != "digest":
        raise ValueError(f"unsupported auth scheme: {scheme}")
    return {
        m.group(1).lower(): m.group(2) if m.group(2) is not None else m.group(3)
        for m in _PARAM_RE.finditer(rest)
    }


def _md5(text: str) -> str:
    return hashlib.md5(text.encode()).hexdigest()  # nosec B324  # SIP digest authentication (RFC 3261) is defined with MD5


def digest_response(
    challenge: dict[str, str],
    method: str,
    uri: str,
    username: str,
    password: str,
    cnonce: str,
    nc: str = "00000001",
) -> str:
    """The Authorization header value answering `challenge` (RFC 2617, MD5 only)."""
    algorithm = challenge.get("algorithm", "MD5")
    if algorithm.upper() != "MD5":
        raise ValueError(f"unsupported digest algorithm: {algorithm}")
    realm, nonce = challenge["realm"], challenge["nonce"]
    ha1 = _md5(f"{username}:{realm}:{password}")
    ha2 = _md5(f"{method}:{uri}")
    offered = [q.strip() for q in challenge.get("qop", "").split(",") if q.strip()]
    parts = [f'username="{username}"', f'realm="{realm}"', f'nonce="{nonce}"', f'uri="{uri}"']
    if "auth" in offered:
        response = _md5(f"{ha1}:{nonce}:{nc}:{cnonce}:auth:{ha2}")
        parts += ["qop=auth", f"nc={nc}", f'cnonce="{cnonce}"']
    else:  # no qop (or only auth-int, which we do not do): RFC 2069 compatible form
        response = _md5(f"{ha1}:{nonce}:{ha2}")
    parts += [f'response="{response}"', "algorithm=MD5"]
    if "opaque" in challenge:
        parts.append(f'opaque="{challenge["opaque"]}"')
    return "Digest " + ", ".join(parts)


class _Dialog:
    """Call-ID, tags and socket shared by the requests of one register/options call."""

    def __init__(self, host: str, port: int, username: str, domain: str) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        # connect() picks the right local address for Via/Contact and makes an ICMP "port
        # unreachable" surface as ConnectionRefusedError, so a dead server fails fast.
        self.sock.connect((host, port))
        self.local_ip, self.local_port = self.sock.getsockname()[:2]
        self.username, self.domain = username, domain
        self.call_id = f"{secrets.token_hex(8)}@{self.local_ip}"
        self.from_tag = secrets.token_hex(4)
        self.cseq = 0

    def close(self) -> None:
        self.sock.close()

    def build(self, method: str, branch: str, extra: list[str]) -> bytes:
        self.cseq += 1
        aor = f"sip:{self.username}@{self.domain}"
        lines = [
            f"{method} sip:{self.domain} SIP/2.0",
            f"Via: SIP/2.0/UDP {self.local_ip}:{self.local_port};branch={branch};rport",
            "Max-Forwards: 70",
            f"From: <{aor}>;tag={self.from_tag}",
            f"To: <{aor}>",
            f"Call-ID: {self.call_id}",
            f"CSeq: {self.cseq} {method}",
            f"User-Agent: {USER_AGENT}",
            *extra,
            "Content-Length: 0",
        ]
        return ("\r\n".join(lines) + "\r\n\r\n").encode()

    def transact(self, method: str, extra: list[str], timeout: float) -> Response:
        """Send one request and wait for its final response, retransmitting as RFC 3261 17.1.2."""
        branch = "z9hG4bK" + secrets.token_hex(8)
        payload = self.build(method, branch, extra)
        cseq = f"{self.cseq} {method}"
        deadline = time.monotonic() + timeout
        interval = T1
        next_send = time.monotonic()
        while True:
            now = time.monotonic()
            if now >= deadline:
                raise TimeoutError(f"no final response to {method} within {timeout:.1f}s")
            if now >= next_send:
                self.sock.send(payload)
                next_send = now + interval
                interval = min(interval * 2, T2)
            self.sock.settimeout(max(0.001, min(next_send, deadline) - now))
            try:
                data = self.sock.recv(65535)
            except TimeoutError:
                continue
            response = parse_response(data)
            if response is None or branch not in (response.header("via") or ""):
                continue
            if (response.header("cseq") or "").split() != cseq.split():
                continue
            if response.status < 200:
                interval = T2  # provisional: keep the transaction alive at the slow rate
                continue
            return response


def _authenticated(
    dialog: _Dialog, method: str, headers: list[str], password: str, timeout: float
) -> Response:
    """Send a request; if it is challenged (401/407 Digest), answer the challenge once."""
    response = dialog.transact(method, headers, timeout)
    if response.status not in (401, 407):
        return response
    name, auth_name = (
        ("www-authenticate", "Authorization")
        if response.status == 401
        else ("proxy-authenticate", "Proxy-Authorization")
    )
    value = next((v for v in response.headers.get(name, []) if v.lower().startswith("digest")), None)
    if value is None:
        return response
    auth = digest_response(
        parse_challenge(value),
        method,
        f"sip:{dialog.domain}",
        dialog.username,
        password,
        cnonce=secrets.token_hex(8),
    )
    return dialog.transact(method, [*headers, f"{auth_name}: {auth}"], timeout)


def register(
    host: str, port: int, username: str, domain: str, password: str, timeout: float = 2.0, expires: int = 60
) -> int:
    """REGISTER username@domain (answering one digest challenge); the final status code.

    `timeout` applies to each of the (at most two) transactions."""
    dialog = _Dialog(host, port, username, domain)
    try:
        if expires:
            contact = f"Contact: <sip:{username}@{dialog.local_ip}:{dialog.local_port}>"
        else:
            # Our local port differs on every call, so "remove all bindings" is the only
            # unregister that reliably matches what an earlier call registered.
            contact = "Contact: *"
        headers = [contact, f"Expires: {expires}"]
        return _authenticated(dialog, "REGISTER", headers, password, timeout).status
    finally:
        dialog.close()


def unregister(host: str, port: int, username: str, domain: str, password: str, timeout: float = 2.0) -> int:
    """Remove every binding of username@domain (Contact: *, Expires: 0); the final status code."""
    return register(host, port, username, domain, password, timeout=timeout, expires=0)


def options(host: str, port: int, domain: str | None = None, timeout: float = 2.0) -> int:
    """Send OPTIONS (a SIP "ping"); the final status code. Raises TimeoutError, or
    ConnectionRefusedError when nothing listens, which is what a readiness probe wants."""
    dialog = _Dialog(host, port, "ping", domain or host)
    try:
        return dialog.transact("OPTIONS", ["Accept: application/sdp"], timeout).status
    finally:
        dialog.close()
