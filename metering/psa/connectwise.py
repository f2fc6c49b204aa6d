"""ConnectWise PSA (Manage) behind :class:`metering.psa.base.Psa`: a thin typed REST client on urllib3.

No library is used: connectpyse (the one small Python client) reads its keys from a JSON file or
global state and returns untyped objects, and pyconnectwise is a pre-release generated from the
whole OpenAPI document. The sync needs seven calls; urllib3 is already how Seatmeter sends webhooks.

Authentication is ConnectWise's API-member scheme: HTTP Basic with ``companyId+publicKey`` as the
user and ``privateKey`` as the password, plus the integration's ``clientId`` header on every call.
Lists are read page by page following the ``Link`` header's ``rel="next"``.
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar
from urllib.parse import urlencode

import urllib3

from metering.psa.base import PsaAddition, PsaAgreement, PsaCatalogItem, PsaCompany, PsaError

T = TypeVar("T")
API_PATH = "/v4_6_release/apis/3.0"
PAGE_SIZE = 1000  # ConnectWise's largest page: fewest calls against its rate limit
TIMEOUT = urllib3.Timeout(connect=5, read=30)
_NEXT_LINK = re.compile(r'<([^>]+)>\s*;\s*rel="?next"?')

# Setting name -> what it is, in the words the sync page uses when it is missing.
SETTINGS = {
    "CONNECTWISE_URL": "the site's address, e.g. https://api-na.myconnectwise.net",
    "CONNECTWISE_COMPANY_ID": "the company id you log in with",
    "CONNECTWISE_PUBLIC_KEY": "the API member's public key",
    "CONNECTWISE_PRIVATE_KEY": "the API member's private key",
    "CONNECTWISE_CLIENT_ID": "the clientId of your integration (developer.connectwise.com)",
}


@dataclass(frozen=True)
class ConnectWiseSettings:
    url: str
    company_id: str
    public_key: str
    private_key: str
    client_id: str
    page_size: int = PAGE_SIZE

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> ConnectWiseSettings | None:
        if missing_settings(config):
            return None
        return cls(
            url=config["CONNECTWISE_URL"],
            company_id=config["CONNECTWISE_COMPANY_ID"],
            public_key=config["CONNECTWISE_PUBLIC_KEY"],
            private_key=config["CONNECTWISE_PRIVATE_KEY"],
            client_id=config["CONNECTWISE_CLIENT_ID"],
            page_size=int(config.get("CONNECTWISE_PAGE_SIZE") or PAGE_SIZE),
        )

    @property
    def api_base(self) -> str:
        base = self.url.rstrip("/")
        return base if base.endswith("/apis/3.0") else base + API_PATH


def missing_settings(config: Mapping[str, Any]) -> list[str]:
    return [name for name in SETTINGS if not config.get(name)]


def _as_int(value: Any) -> int:
    # ConnectWise keeps quantities as decimals (2.0); licences are whole units.
    return round(float(value or 0))


class ConnectWise:
    name = "ConnectWise PSA"

    def __init__(self, settings: ConnectWiseSettings, pool: urllib3.PoolManager | None = None) -> None:
        self.settings = settings
        self.pool = pool or urllib3.PoolManager(timeout=TIMEOUT, retries=False)
        token = base64.b64encode(
            f"{settings.company_id}+{settings.public_key}:{settings.private_key}".encode()
        ).decode()
        self.headers = {
            "Authorization": f"Basic {token}",
            "clientId": settings.client_id,
            "Accept": "application/json",
            "Content-Type": "application/json",
        }

    # -- transport -------------------------------------------------------------------------------
    def _call(self, method: str, url: str, body: Any = None) -> urllib3.BaseHTTPResponse:
        encoded = json.dumps(body).encode() if body is not None else None
        try:
            response = self.pool.request(method, url, body=encoded, headers=self.headers)
        except urllib3.exceptions.HTTPError as error:
            raise PsaError(f"ConnectWise could not be reached: {error}", retryable=True) from error
        if response.status >= 400:
            raise _error_from(response)
        return response

    def _url(self, path: str, query: Mapping[str, Any] | None = None) -> str:
        url = f"{self.settings.api_base}/{path.lstrip('/')}"
        return f"{url}?{urlencode(query)}" if query else url

    def _pages(self, path: str, conditions: str | None = None) -> Iterator[dict[str, Any]]:
        query: dict[str, Any] = {"pageSize": self.settings.page_size, "page": 1}
        if conditions:
            query["conditions"] = conditions
        url: str | None = self._url(path, query)
        while url is not None:
            response = self._call("GET", url)
            yield from _json(response)
            match = _NEXT_LINK.search(response.headers.get("Link", ""))
            url = match.group(1) if match else None

    # -- the Psa protocol ------------------------------------------------------------------------
    def list_companies(self) -> list[PsaCompany]:
        return [_parsed(_company, item) for item in self._pages("company/companies", "deletedFlag=false")]

    def list_agreements(self) -> list[PsaAgreement]:
        return [
            _parsed(_agreement, item) for item in self._pages("finance/agreements", "cancelledFlag=false")
        ]

    def list_catalog_items(self) -> list[PsaCatalogItem]:
        return [
            _parsed(_catalog_item, item) for item in self._pages("procurement/catalog", "inactiveFlag=false")
        ]

    def get_addition(self, agreement_id: int, addition_id: int) -> PsaAddition | None:
        try:
            response = self._call(
                "GET", self._url(f"finance/agreements/{agreement_id}/additions/{addition_id}")
            )
        except PsaError as error:
            if error.status == 404:
                return None
            raise
        return _addition(_json(response))

    def find_additions(self, agreement_id: int, catalog_item_id: int) -> list[PsaAddition]:
        conditions = f"product/id={int(catalog_item_id)} and cancelledDate=null"
        found = [
            _addition(item)
            for item in self._pages(f"finance/agreements/{agreement_id}/additions", conditions)
        ]
        return sorted(found, key=lambda addition: addition.id)

    def create_addition(self, agreement_id: int, catalog_item_id: int, quantity: int) -> PsaAddition:
        body = {"product": {"id": int(catalog_item_id)}, "quantity": quantity, "billCustomer": "Billable"}
        response = self._call("POST", self._url(f"finance/agreements/{agreement_id}/additions"), body)
        return _addition(_json(response))

    def set_addition_quantity(self, agreement_id: int, addition_id: int, quantity: int) -> PsaAddition:
        patch = [{"op": "replace", "path": "quantity", "value": quantity}]
        response = self._call(
            "PATCH", self._url(f"finance/agreements/{agreement_id}/additions/{addition_id}"), patch
        )
        return _addition(_json(response))


def _json(response: urllib3.BaseHTTPResponse) -> Any:
    try:
        return json.loads(response.data or b"null")
    except ValueError as error:
        raise PsaError("ConnectWise answered with something that is not JSON", retryable=True) from error


def _parsed(build: Callable[[Any], T], item: Any) -> T:
    """An object built from ConnectWise's JSON; a shape it does not have is a plain PsaError."""
    try:
        return build(item)
    except (KeyError, TypeError, ValueError) as error:
        raise PsaError(f"ConnectWise answered an object without {error}", retryable=False) from error


def _company(item: Any) -> PsaCompany:
    return PsaCompany(id=item["id"], identifier=item.get("identifier", ""), name=item.get("name", ""))


def _agreement(item: Any) -> PsaAgreement:
    return PsaAgreement(id=item["id"], name=item.get("name", ""), company_id=item["company"]["id"])


def _catalog_item(item: Any) -> PsaCatalogItem:
    return PsaCatalogItem(
        id=item["id"], identifier=item.get("identifier", ""), description=item.get("description", "")
    )


def _new_addition(item: Any) -> PsaAddition:
    return PsaAddition(
        id=item["id"],
        agreement_id=item["agreementId"],
        catalog_item_id=item["product"]["id"],
        quantity=_as_int(item.get("quantity")),
        cancelled=item.get("cancelledDate") is not None,
    )


def _addition(item: Any) -> PsaAddition:
    return _parsed(_new_addition, item)


def _error_from(response: urllib3.BaseHTTPResponse) -> PsaError:
    """ConnectWise's error body ``{"code", "message", "errors": [...]}`` in plain words."""
    try:
        body = json.loads(response.data or b"{}")
    except ValueError:
        body = {}
    body = body if isinstance(body, dict) else {}
    details = "; ".join(
        f"{item.get('field')}: {item.get('message')}"
        for item in body.get("errors") or []
        if isinstance(item, dict)
    )
    message = (
        f"ConnectWise answered {response.status} {body.get('code', '')}: {body.get('message', '')}".strip()
    )
    if details:
        message += f" ({details})"
    if response.status == 429:
        retry_after = response.headers.get("Retry-After", "")
        seconds = int(retry_after) if retry_after.isdigit() else None
        return PsaError(message, retryable=True, retry_after=seconds, status=429)
    if response.status == 401:
        return PsaError(
            message + ". Check CONNECTWISE_COMPANY_ID, the API member's keys and CONNECTWISE_CLIENT_ID.",
            retryable=False,
            status=401,
        )
    return PsaError(message, retryable=response.status >= 500, status=response.status)
