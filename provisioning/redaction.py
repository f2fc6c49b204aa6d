"""Taking secrets out of error text before it is stored or shown (attempt log, seat's last error)."""

from __future__ import annotations

import re

REDACTED = "[redacted]"

_PATTERNS = (
    # a whole Authorization header, whatever its scheme
    re.compile(r"(?i)(\bauthorization\s*[:=]\s*)([^\r\n]+)"),
    # key=value / "key": "value" pairs whose key names a secret
    re.compile(
        r"(?i)(\"?\b(?:password|passwd|secret|token|api[_-]?key|authorization|credential|"
        r"aws_secret_access_key|x-amz-security-token|signature|ha1b?)\b\"?\s*[:=]\s*)(\"[^\"]*\"|'[^']*'|[^\s,;&}]+)"
    ),
    # Authorization headers of any scheme (AWS SigV4, Bearer, Basic, Digest)
    re.compile(r"(?i)(\b(?:bearer|basic|digest|aws4-hmac-sha256)\s+)([^\s,]+(?:,\s*\w+=[^\s,]+)*)"),
    # passwords inside URLs: scheme://user:password@host
    re.compile(r"(\w+://[^\s:/@]+:)([^\s@]+)(@)"),
)
_AWS_KEY_ID = re.compile(r"\b(?:AKIA|ASIA)[A-Z0-9]{16}\b")


def _keep_around(match: re.Match[str]) -> str:
    """Keep the key (group 1) and what closes the value (group 3, if any); drop the value."""
    closing = match.group(3) if match.re.groups >= 3 else ""
    return match.group(1) + REDACTED + closing


def redact(text: str, *secrets: str | None) -> str:
    """``text`` with known secret values and anything that looks like a credential replaced."""
    for secret in secrets:
        if secret:
            text = text.replace(secret, REDACTED)
    for pattern in _PATTERNS:
        text = pattern.sub(_keep_around, text)
    return _AWS_KEY_ID.sub(REDACTED, text)
