"""Configuration read from the environment once, when the application is created.

Every setting has a safe embedded default so that a fresh clone runs with nothing configured
(SQLite database and SQLite Celery broker under ``instance/``). A setting that is present but
malformed stops start-up with a message naming the variable, instead of failing later inside a
request or a task.
"""

from __future__ import annotations

import ipaddress
import os
import re
import secrets
from collections.abc import Callable, Mapping
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from limits import parse_many
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError


class ConfigError(SystemExit):
    """A setting is missing or malformed.

    It is a SystemExit so that ``flask``, ``celery`` and gunicorn print the message and exit
    with status 1 rather than dumping a traceback at the operator.
    """

    def __init__(self, variable: str, problem: str) -> None:
        self.variable = variable
        self.problem = problem
        super().__init__(f"Seatmeter configuration error: {variable}: {problem}")

    def __str__(self) -> str:
        return f"Seatmeter configuration error: {self.variable}: {self.problem}"


_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


def _parse_bool(name: str, raw: str) -> bool:
    value = raw.strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ConfigError(name, f"expected one of true/false/1/0/yes/no, got {raw!r}")


_ROLES = ("reseller_admin", "reseller_staff", "client_admin", "client_user")


def _parse_roles(name: str, raw: str) -> frozenset[str]:
    # The roles whose users must log in with a second factor; "none" for nobody.
    if raw.strip().lower() == "none":
        return frozenset()
    roles = frozenset(part.strip().lower() for part in raw.split(",") if part.strip())
    unknown = sorted(roles - set(_ROLES))
    if unknown:
        raise ConfigError(name, f"unknown role {', '.join(unknown)}: use {', '.join(_ROLES)} or none")
    return roles


def _parse_int(name: str, raw: str, *, minimum: int, maximum: int) -> int:
    try:
        value = int(raw.strip())
    except ValueError:
        raise ConfigError(name, f"expected a whole number, got {raw!r}") from None
    if not minimum <= value <= maximum:
        raise ConfigError(name, f"expected a number from {minimum} to {maximum}, got {value}")
    return value


def _parse_http_url(name: str, raw: str) -> str:
    parts = urlsplit(raw.strip())
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ConfigError(name, f"expected an http:// or https:// URL, got {raw!r}")
    return raw.strip().rstrip("/")


def _parse_database_url(name: str, raw: str) -> str:
    try:
        url = make_url(raw.strip())
    except ArgumentError:
        raise ConfigError(
            name, f"cannot parse {raw!r} as a database URL (e.g. postgresql+psycopg://user@host/db)"
        ) from None
    backend = url.get_backend_name()
    if backend not in ("sqlite", "postgresql"):
        raise ConfigError(name, f"unsupported database {backend!r}: use sqlite or postgresql")
    if backend == "postgresql" and url.drivername == "postgresql":
        # psycopg 3 is the driver we install; plain postgresql:// would look for psycopg2.
        url = url.set(drivername="postgresql+psycopg")
    return url.render_as_string(hide_password=False)


def _parse_broker_url(name: str, raw: str) -> str:
    value = raw.strip()
    scheme = urlsplit(value).scheme
    if scheme not in ("redis", "rediss", "sqla+sqlite", "sqla+postgresql", "amqp", "memory"):
        raise ConfigError(name, f"unsupported broker URL {raw!r}: use redis://host:6379/0")
    return value


def _parse_timezone(name: str, raw: str) -> str:
    try:
        ZoneInfo(raw.strip())
    except (ZoneInfoNotFoundError, ValueError):
        raise ConfigError(name, f"{raw!r} is not an IANA time zone name such as Europe/London") from None
    return raw.strip()


def _parse_stripe_key(name: str, raw: str) -> str:
    value = raw.strip()
    if not value.startswith(("sk_", "rk_")):
        raise ConfigError(name, "expected a Stripe secret or restricted key (sk_… or rk_…)")
    return value


# Rate limits (Flask-Limiter): setting -> default. Each is "N per period", several joined by ";".
# Per source address unless the name says otherwise; docs/configuration.md explains each.
RATE_LIMITS = {
    "RATELIMIT_LOGIN": "20/minute;200/hour",  # POST /login
    "RATELIMIT_EMAIL": "5/hour",  # reset and unlock e-mails asked for, per address
    "RATELIMIT_EMAIL_ACCOUNT": "3/hour",  # the same, per e-mail address typed (the account)
    "RATELIMIT_LINKS": "30/hour",  # passwords chosen and unlocks done with an e-mailed link
    "RATELIMIT_INVITE": "60/hour",  # invitations sent from the client's and reseller's pages
    "RATELIMIT_API": "600/minute",  # the JSON API, per token
    "RATELIMIT_API_ANONYMOUS": "60/minute",  # the JSON API without a valid token, per address
}
_RATELIMIT_STORAGES = ("memory", "redis", "rediss", "redis+sentinel", "redis+cluster", "memcached")


def _parse_rate_limit(name: str, raw: str) -> str:
    value = raw.strip()
    try:
        parsed = parse_many(value)
    except ValueError:
        parsed = []
    if not parsed:
        raise ConfigError(name, f"expected limits such as 20/minute;200/hour, got {raw!r}")
    return value


def _rate_limit_settings(get: Callable[[str], str | None]) -> dict[str, Any]:
    storage = get("RATELIMIT_STORAGE_URI") or "memory://"
    if urlsplit(storage.strip()).scheme not in _RATELIMIT_STORAGES:
        raise ConfigError(
            "RATELIMIT_STORAGE_URI", f"expected memory:// or redis://host:6379/1, got {storage!r}"
        )
    enabled = get("RATELIMIT_ENABLED")
    config: dict[str, Any] = {
        "RATELIMIT_STORAGE_URI": storage.strip(),
        "RATELIMIT_ENABLED": _parse_bool("RATELIMIT_ENABLED", enabled) if enabled else True,
    }
    for name, default in RATE_LIMITS.items():
        value = get(name)
        config[name] = _parse_rate_limit(name, value) if value else default
    return config


# Provisioning: which adapter serves each product kind ("none": the kind is not offered here).
ADAPTER_CHOICES = {
    "desktop": ("workspaces", "active_directory", "none"),
    "mailbox": ("workmail", "none"),
    "voip": ("kamailio", "none"),
}
_DEFAULT_ADAPTERS = "desktop=workspaces,mailbox=workmail,voip=kamailio"
_PATTERNS = {
    "WORKSPACES_DIRECTORY_ID": (r"d-[0-9a-f]{8,63}", "a directory id such as d-906732325d"),
    "WORKSPACES_BUNDLE_ID": (r"wsb-[0-9a-z]{8,63}", "a bundle id such as wsb-bh8rsxt14"),
    "WORKMAIL_ORGANIZATION_ID": (r"m-[0-9a-f]{32}", "an organization id: m- and 32 hex digits"),
    "WORKMAIL_MAIL_DOMAIN": (r"([a-z0-9-]+\.)+[a-z]{2,}", "a mail domain such as example.awsapps.com"),
    "SIP_DOMAIN": (r"([a-z0-9-]+\.)*[a-z0-9-]+", "a domain such as voip.example-msp.com"),
    # Where phones register (the registrar's public name, a port if not 5060); shown to clients.
    "SIP_SERVER": (r"([a-z0-9-]+\.)*[a-z0-9-]+(:[0-9]{1,5})?", "a host such as sip.example-msp.com:5060"),
}


def _parse_adapters(name: str, raw: str) -> dict[str, str]:
    adapters = dict(item.split("=", 1) for item in _DEFAULT_ADAPTERS.split(","))
    for item in filter(None, (part.strip() for part in raw.split(","))):
        kind, _, adapter = (text.strip().lower() for text in item.partition("="))
        if kind not in ADAPTER_CHOICES or adapter not in ADAPTER_CHOICES[kind]:
            choices = "; ".join(f"{k}={'|'.join(v)}" for k, v in ADAPTER_CHOICES.items())
            raise ConfigError(name, f"cannot use {item!r}; expected kind=adapter from: {choices}")
        adapters[kind] = adapter
    return adapters


def _provisioning_settings(get: Callable[[str], str | None], instance_path: Path) -> dict[str, Any]:
    config: dict[str, Any] = {}
    raw_adapters = get("PROVISIONING_ADAPTERS")
    config["PROVISIONING_ADAPTERS"] = _parse_adapters("PROVISIONING_ADAPTERS", raw_adapters or "")
    for name, (pattern, example) in _PATTERNS.items():
        value = get(name)
        if value is not None and not re.fullmatch(pattern, value.strip().lower()):
            raise ConfigError(name, f"expected {example}, got {value!r}")
        config[name] = value.strip().lower() if value is not None else None
    config["SIP_DOMAIN"] = config["SIP_DOMAIN"] or "voip.localhost"
    config["SIP_SERVER"] = config["SIP_SERVER"] or config["SIP_DOMAIN"]
    for name in ("WORKSPACES_ENDPOINT_URL", "WORKMAIL_ENDPOINT_URL"):
        value = get(name)
        config[name] = _parse_http_url(name, value) if value else None
    kamailio_db = get("KAMAILIO_DB_URL")
    config["KAMAILIO_DB_URL"] = (
        _parse_database_url("KAMAILIO_DB_URL", kamailio_db)
        if kamailio_db
        else f"sqlite:///{instance_path / 'kamailio.sqlite'}"
    )
    config["PROVISIONING_QUEUE"] = get("PROVISIONING_QUEUE") or "seatmeter"
    if not re.fullmatch(r"[\w.-]+", config["PROVISIONING_QUEUE"]):
        raise ConfigError("PROVISIONING_QUEUE", "use letters, digits, dots, dashes or underscores")
    for name, default, maximum in (
        ("PROVISIONING_SWEEP_SECONDS", 300, 86400),  # lagging this long: the sweep re-queues it
        ("PROVISIONING_SWEEP_INTERVAL", 60, 3600),  # how often beat runs the sweep
        ("PROVISIONING_LEASE_SECONDS", 120, 3600),  # a worker's claim on a seat (> any API call)
        ("PROVISIONING_MAX_ATTEMPTS", 8, 100),  # retryable failures before a seat is failed
        ("PROVISIONING_RETRY_BASE_SECONDS", 5, 3600),  # first backoff; doubles with each retry
        ("BROKER_OUTAGE_PAUSE", 10, 600),  # after a failed send, seconds before the next is tried
    ):
        value = get(name)
        config[name] = _parse_int(name, value, minimum=1, maximum=maximum) if value else default
    config.update(_directory_settings(get))
    config.update(_webhook_settings(get))
    return config


def _webhook_settings(get: Callable[[str], str | None]) -> dict[str, Any]:
    """Outgoing webhooks (docs/webhooks.md): retry schedule, timeout, how much of an answer is read."""
    config: dict[str, Any] = {}
    for name, default, minimum, maximum in (
        ("WEBHOOK_RETRY_BASE_SECONDS", 30, 0, 3600),  # first backoff; doubles with each retry
        (
            "WEBHOOK_RETRY_MAX_SECONDS",
            1800,
            1,
            3600,
        ),  # the longest wait (under the broker's visibility timeout)
        ("WEBHOOK_RETRY_WINDOW_SECONDS", 86400, 1, 7 * 86400),  # retries stop this long after the first
        ("WEBHOOK_DISABLE_AFTER_SECONDS", 86400, 1, 30 * 86400),  # failing this long: endpoint off
        ("WEBHOOK_TIMEOUT_SECONDS", 5, 1, 60),  # connect and read, each
        ("WEBHOOK_MAX_RESPONSE_BYTES", 65536, 0, 1024**2),  # of an endpoint's answer
        ("WEBHOOK_SWEEP_INTERVAL", 300, 1, 86400),  # how often beat looks for lost deliveries
        ("WEBHOOK_SWEEP_GRACE_SECONDS", 600, 1, 86400),  # overdue this long: the delivery's job was lost
        ("WEBHOOK_RETENTION_DAYS", 30, 1, 3650),  # events and their delivery log are kept this long
    ):
        value = get(name)
        config[name] = _parse_int(name, value, minimum=minimum, maximum=maximum) if value else default
    return config


def _directory_settings(get: Callable[[str], str | None]) -> dict[str, Any]:
    """Active Directory for colo desktops (PROVISIONING_ADAPTERS desktop=active_directory), true-ups."""
    config: dict[str, Any] = {}
    url = get("AD_LDAP_URL")
    if url is not None and not re.fullmatch(r"ldaps://[^/\s:]+(:\d{1,5})?/?", url.strip()):
        raise ConfigError("AD_LDAP_URL", f"expected ldaps://host[:port] (passwords need TLS), got {url!r}")
    config["AD_LDAP_URL"] = url.strip().rstrip("/") if url else None
    for name in ("AD_BIND_DN", "AD_BIND_PASSWORD", "AD_TLS_SERVER_NAME"):
        config[name] = get(name)
    clients_ou = get("AD_CLIENTS_OU")
    if clients_ou is not None and not re.search(r"(^|,)\s*DC=", clients_ou, re.IGNORECASE):
        raise ConfigError(
            "AD_CLIENTS_OU", f"expected a DN such as OU=Clients,DC=corp,DC=example, got {clients_ou!r}"
        )
    config["AD_CLIENTS_OU"] = clients_ou.strip() if clients_ou else None
    ca_file = get("AD_TLS_CA_FILE")
    if ca_file is not None and not Path(ca_file).is_file():
        raise ConfigError("AD_TLS_CA_FILE", f"no such file: {ca_file}")
    config["AD_TLS_CA_FILE"] = ca_file
    group = get("AD_RDS_GROUP") or "{ref}-rds-users"
    if "{ref}" not in group:
        raise ConfigError("AD_RDS_GROUP", "the group name must contain {ref} (one group per client)")
    config["AD_RDS_GROUP"] = group
    hour = get("TRUEUP_HOUR")  # the nightly true-up run, at this hour (UTC)
    config["TRUEUP_HOUR"] = _parse_int("TRUEUP_HOUR", hour, minimum=0, maximum=23) if hour else 2
    return config


def _parse_retry_days(name: str, value: str) -> list[int]:
    """``3,5,7``: increasing days (1 to 60) after the first failure; ``none`` turns retries off."""
    if value.strip().lower() == "none":
        return []
    try:
        days = [int(part) for part in value.split(",")]
    except ValueError:
        raise ConfigError(
            name, f"expected days separated by commas, like 3,5,7 (or none), got {value!r}"
        ) from None
    if any(day < 1 or day > 60 for day in days) or days != sorted(set(days)):
        raise ConfigError(name, f"days must be increasing whole numbers from 1 to 60, got {value!r}")
    return days


_LOG_FORMATS = ("text", "json")
# Loopback only unless the operator widens it: a scrape from the host itself (a local Prometheus
# agent, `curl` on the box) needs nothing else; see docs/observability.md.
_DEFAULT_METRICS_NETWORKS = "127.0.0.0/8,::1/128"


def _parse_networks(name: str, raw: str) -> str:
    """Addresses and networks, joined by commas (text, like every setting an override may give)."""
    if raw.strip().lower() == "none":  # the bearer token alone opens /metrics
        return ""
    networks = []
    for item in filter(None, (part.strip() for part in raw.split(","))):
        try:
            networks.append(str(ipaddress.ip_network(item, strict=False)))
        except ValueError:
            raise ConfigError(name, f"{item!r} is not an address or network such as 10.0.0.0/8") from None
    return ",".join(networks)


def _observability_settings(get: Callable[[str], str | None]) -> dict[str, Any]:
    """Logs, metrics and error tracking (portal/observability, docs/observability.md)."""
    config: dict[str, Any] = {}
    log_format = (get("LOG_FORMAT") or "text").strip().lower()
    if log_format not in _LOG_FORMATS:
        raise ConfigError("LOG_FORMAT", f"expected text or json, got {log_format!r}")
    config["LOG_FORMAT"] = log_format
    token = get("METRICS_TOKEN")
    if token is not None and len(token.strip()) < 16:
        raise ConfigError("METRICS_TOKEN", "must be at least 16 characters long")
    config["METRICS_TOKEN"] = token.strip() if token else None
    networks = get("METRICS_ALLOWED_NETWORKS")
    config["METRICS_ALLOWED_NETWORKS"] = _parse_networks(
        "METRICS_ALLOWED_NETWORKS", networks if networks is not None else _DEFAULT_METRICS_NETWORKS
    )
    dsn = get("SENTRY_DSN")
    config["SENTRY_DSN"] = _parse_http_url("SENTRY_DSN", dsn) if dsn else None
    config["SENTRY_ENVIRONMENT"] = (get("SENTRY_ENVIRONMENT") or "production").strip()
    return config


def _psa_settings(get: Callable[[str], str | None]) -> dict[str, Any]:
    """ConnectWise PSA (docs/psa.md): its address, the API member's keys, the integration's clientId."""
    config: dict[str, Any] = {}
    url = get("CONNECTWISE_URL")
    config["CONNECTWISE_URL"] = _parse_http_url("CONNECTWISE_URL", url) if url else None
    for name in (
        "CONNECTWISE_COMPANY_ID",
        "CONNECTWISE_PUBLIC_KEY",
        "CONNECTWISE_PRIVATE_KEY",
        "CONNECTWISE_CLIENT_ID",
    ):
        value = get(name)
        config[name] = value.strip() if value is not None else None
    page_size = get("CONNECTWISE_PAGE_SIZE")
    # Rows per page when reading lists; ConnectWise allows up to 1000.
    config["CONNECTWISE_PAGE_SIZE"] = (
        _parse_int("CONNECTWISE_PAGE_SIZE", page_size, minimum=1, maximum=1000) if page_size else 1000
    )
    lease = get("PSA_LEASE_SECONDS")
    # How long a worker holds a record while it calls the PSA; a worker that dies holds it this long.
    config["PSA_LEASE_SECONDS"] = (
        _parse_int("PSA_LEASE_SECONDS", lease, minimum=1, maximum=3600) if lease else 300
    )
    interval = get("PSA_SWEEP_INTERVAL")
    # How often beat re-queues months whose PSA sync stayed pending (a lost message).
    config["PSA_SWEEP_INTERVAL"] = (
        _parse_int("PSA_SWEEP_INTERVAL", interval, minimum=1, maximum=86400) if interval else 300
    )
    return config


def _load_or_create_secret_key(instance_path: Path) -> str:
    """A per-installation secret kept in instance/ so sessions survive restarts."""
    key_file = instance_path / "secret_key"
    if key_file.exists():
        key = key_file.read_text().strip()
        if key:
            return key
    key = secrets.token_urlsafe(48)
    instance_path.mkdir(parents=True, exist_ok=True)
    fd = os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(key)
    return key


# name -> (parser or None for plain text, default)
_OPTIONAL_TEXT = (
    "STRIPE_WEBHOOK_SECRET",
    "MAIL_SERVER",
    "MAIL_USERNAME",
    "MAIL_PASSWORD",
)


def setting_from_environment(environ: Mapping[str, str], name: str) -> str | None:
    """Setting ``name``: the variable itself, or the contents of the file that ``NAME_FILE`` names.

    The ``_FILE`` form keeps secrets out of the environment (Docker and systemd credentials, a
    Kubernetes secret volume): the file holds the value, one trailing newline ignored. Setting
    both is refused, as it is unclear which one the operator meant. Blank counts as unset.
    """
    value = environ.get(name)
    file_name = environ.get(f"{name}_FILE")
    if file_name is not None and file_name.strip() != "":
        if value is not None and value.strip() != "":
            raise ConfigError(f"{name}_FILE", f"set either {name} or {name}_FILE, not both")
        try:
            value = Path(file_name.strip()).read_text().rstrip("\r\n")
        except OSError as error:
            raise ConfigError(f"{name}_FILE", f"cannot read {file_name!r}: {error.strerror}") from None
    return value if value is not None and value.strip() != "" else None


def _quickbooks_settings(get: Callable[[str], str | None]) -> dict[str, Any]:
    """QuickBooks Online (docs/quickbooks.md): the Intuit app's keys, its environment, and where to send."""
    environment = (get("QUICKBOOKS_ENVIRONMENT") or "sandbox").strip().lower()
    if environment not in ("sandbox", "production"):
        raise ConfigError("QUICKBOOKS_ENVIRONMENT", "must be sandbox or production")
    redirect = get("QUICKBOOKS_REDIRECT_URI")
    base = get("QUICKBOOKS_BASE_URL")
    if base and base.strip().startswith("http://") and get("OAUTHLIB_INSECURE_TRANSPORT") != "1":
        # requests-oauthlib (under python-quickbooks) refuses to send a token over plain http.
        raise ConfigError(
            "QUICKBOOKS_BASE_URL",
            "is plain http; set OAUTHLIB_INSECURE_TRANSPORT=1 too (only ever for a stand-in on 127.0.0.1)",
        )
    return {
        "QUICKBOOKS_CLIENT_ID": get("QUICKBOOKS_CLIENT_ID"),
        "QUICKBOOKS_CLIENT_SECRET": get("QUICKBOOKS_CLIENT_SECRET"),
        "QUICKBOOKS_ENVIRONMENT": environment,
        "QUICKBOOKS_REDIRECT_URI": _parse_http_url("QUICKBOOKS_REDIRECT_URI", redirect) if redirect else None,
        # Another server speaking Intuit's OAuth and Accounting API (the stand-in); unset: Intuit's own.
        "QUICKBOOKS_BASE_URL": _parse_http_url("QUICKBOOKS_BASE_URL", base).rstrip("/") if base else None,
        # First wait before a call QuickBooks throttled (429) or failed (5xx) is tried again; then doubles.
        "QUICKBOOKS_RETRY_BASE_SECONDS": 1.0,
    }


def load_config(environ: Mapping[str, str], instance_path: Path) -> dict[str, Any]:
    """Turn the environment into Flask config keys, validating each setting once."""

    def get(name: str) -> str | None:
        return setting_from_environment(environ, name)

    config: dict[str, Any] = {}

    database_url = get("DATABASE_URL")
    config["DATABASE_URL"] = (
        _parse_database_url("DATABASE_URL", database_url)
        if database_url
        else f"sqlite:///{instance_path / 'seatmeter.sqlite'}"
    )

    secret_key = get("SECRET_KEY")
    if secret_key is not None and len(secret_key) < 16:
        raise ConfigError("SECRET_KEY", "must be at least 16 characters long")
    if secret_key is None and not config["DATABASE_URL"].startswith("sqlite"):
        # A shared database means several web hosts and workers: a key generated on each host
        # would log people out whenever a load balancer sent them to another one, and seat
        # secrets sealed on one worker could not be opened on another.
        raise ConfigError(
            "SECRET_KEY",
            "must be set (or SECRET_KEY_FILE) when DATABASE_URL is not SQLite: every web host and "
            "worker needs the same key; make one with: python -c 'import secrets; "
            "print(secrets.token_urlsafe(48))'",
        )
    config["SECRET_KEY"] = secret_key or _load_or_create_secret_key(instance_path)

    broker_url = get("CELERY_BROKER_URL")
    config["CELERY_BROKER_URL"] = (
        _parse_broker_url("CELERY_BROKER_URL", broker_url)
        if broker_url
        else f"sqla+sqlite:///{instance_path / 'broker.sqlite'}"
    )

    timezone = get("BILLING_TIMEZONE")
    config["BILLING_TIMEZONE"] = _parse_timezone("BILLING_TIMEZONE", timezone) if timezone else "UTC"
    # Days an invoice may stay overdue before dunning suspends the client's seats.
    grace_days = get("BILLING_GRACE_DAYS")
    config["BILLING_GRACE_DAYS"] = (
        _parse_int("BILLING_GRACE_DAYS", grace_days, minimum=0, maximum=365) if grace_days else 14
    )

    # Days after the first failed payment on which an overdue invoice is charged again ("none": never).
    retry_days = get("BILLING_RETRY_DAYS")
    config["BILLING_RETRY_DAYS"] = (
        _parse_retry_days("BILLING_RETRY_DAYS", retry_days) if retry_days else [3, 5, 7]
    )

    public_url = get("PUBLIC_URL")
    config["PUBLIC_URL"] = (
        _parse_http_url("PUBLIC_URL", public_url) if public_url else "http://127.0.0.1:5000"
    )

    stripe_key = get("STRIPE_API_KEY")
    config["STRIPE_API_KEY"] = _parse_stripe_key("STRIPE_API_KEY", stripe_key) if stripe_key else None
    stripe_base = get("STRIPE_API_BASE")
    config["STRIPE_API_BASE"] = _parse_http_url("STRIPE_API_BASE", stripe_base) if stripe_base else None

    config.update(_quickbooks_settings(get))

    aws_endpoint = get("AWS_ENDPOINT_URL")
    config["AWS_ENDPOINT_URL"] = _parse_http_url("AWS_ENDPOINT_URL", aws_endpoint) if aws_endpoint else None
    config["AWS_REGION"] = get("AWS_REGION") or get("AWS_DEFAULT_REGION") or "us-east-1"

    for name in _OPTIONAL_TEXT:
        config[name] = get(name)
    mail_port = get("MAIL_PORT")
    config["MAIL_PORT"] = _parse_int("MAIL_PORT", mail_port, minimum=1, maximum=65535) if mail_port else 25
    mail_tls = get("MAIL_USE_TLS")
    config["MAIL_USE_TLS"] = _parse_bool("MAIL_USE_TLS", mail_tls) if mail_tls else False
    config["MAIL_FROM"] = get("MAIL_FROM") or "Seatmeter <billing@localhost>"
    if config["MAIL_USERNAME"] and not config["MAIL_SERVER"]:
        raise ConfigError("MAIL_SERVER", "MAIL_USERNAME is set but MAIL_SERVER is not")

    # Bodies over this size are refused (413) before anything reads them, so one oversized upload
    # cannot make a worker parse hundreds of megabytes (the usage-events cap only counts events).
    max_request = get("MAX_REQUEST_BYTES")
    config["MAX_CONTENT_LENGTH"] = (
        _parse_int("MAX_REQUEST_BYTES", max_request, minimum=1024, maximum=1024**3)
        if max_request
        else 5 * 1024 * 1024
    )

    # How many reverse proxies (nginx, a load balancer) stand in front of the portal. Each one adds
    # itself to X-Forwarded-For; only that many entries from the right are believed, so a client
    # cannot claim another address by sending the header itself. 0: the header is ignored.
    proxies = get("TRUSTED_PROXIES")
    config["TRUSTED_PROXIES"] = _parse_int("TRUSTED_PROXIES", proxies, minimum=0, maximum=5) if proxies else 0

    config["TWO_FACTOR_REQUIRED_ROLES"] = _parse_roles(
        "TWO_FACTOR_REQUIRED_ROLES", get("TWO_FACTOR_REQUIRED_ROLES") or "reseller_admin,reseller_staff"
    )

    # With a Redis broker, beat holds a lock in Redis for this long and renews it as it runs; a
    # standby beat takes over this many seconds after the active one dies.
    lock_seconds = get("BEAT_LOCK_SECONDS")
    config["BEAT_LOCK_SECONDS"] = (
        _parse_int("BEAT_LOCK_SECONDS", lock_seconds, minimum=2, maximum=3600) if lock_seconds else 60
    )

    # How often beat deletes expired sign-in records and API idempotency keys (seconds): hourly
    # keeps the tables small without a query a minute for nothing.
    config["PURGE_INTERVAL"] = 3600
    # How often beat looks whether the SPLA report is due soon or overdue (each reminder goes once).
    config["NOTICE_REMINDER_INTERVAL"] = 3600
    # How often beat runs the QuickBooks sync, which sends only what is not there yet.
    config["QUICKBOOKS_SYNC_INTERVAL"] = 3600

    # `make run` sets it while the platforms are its sandbox stand-ins; the console then says so.
    sandbox = get("SEATMETER_SANDBOX")
    config["SANDBOX"] = _parse_bool("SEATMETER_SANDBOX", sandbox) if sandbox else False

    config.update(_rate_limit_settings(get))
    config.update(_provisioning_settings(get, instance_path))
    config.update(_observability_settings(get))
    config.update(_psa_settings(get))

    # Cookies are marked Secure whenever the portal is served over HTTPS. `make run` serves plain
    # http://127.0.0.1 where a Secure cookie would never be sent back and nobody could log in.
    https = config["PUBLIC_URL"].startswith("https://")
    secure_override = get("SESSION_COOKIE_SECURE")
    secure = _parse_bool("SESSION_COOKIE_SECURE", secure_override) if secure_override else https
    config.update(
        SESSION_COOKIE_SECURE=secure,
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_NAME="seatmeter_session",
        REMEMBER_COOKIE_SECURE=secure,
        REMEMBER_COOKIE_HTTPONLY=True,
        REMEMBER_COOKIE_SAMESITE="Lax",
        # Flask-Login's default is a year; a stolen laptop's cookie should not outlive a month.
        REMEMBER_COOKIE_DURATION=timedelta(days=30),
        PREFERRED_URL_SCHEME="https" if https else "http",
    )
    return config
