"""Datto RMM API v2: OAuth password grant with the API key and secret (the token is fetched again before
it expires, and once more if the API answers 401), `pageDetails.nextPageUrl` paging, and the documented
600 requests per 60 seconds kept on our side.

A Datto site is a client: it becomes a company (linked by name to one that exists) with one site of
the same name, and its devices go there. Optionally each company's account number is written into a
device UDF (`POST /v2/device/{uid}/udf`), off by default."""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Generator, Iterator
from datetime import UTC, datetime
from typing import Any

import httpx

from connectors.engine import Kind, SyncContext
from connectors.http import ConnectorError, RateLimit, VendorClient, checked_base_url
from connectors.models import Connector
from connectors.records import UpstreamDevice, upsert_company, upsert_device, upsert_site
from portal.access import rows_for_system
from portal.inventory.models import OsType
from portal.tenancy.models import Company

SOURCE = "datto"
PAGE = 250
REQUESTS_PER_MINUTE = 600
REFRESH_MARGIN_SECONDS = 300
TOKEN_ATTEMPTS = 4
UDF_FIELD = re.compile(r"^udf([1-9]|[12][0-9]|30)$")


class DattoAuth(httpx.Auth):
    """Bearer tokens from the password grant, fetched before first use and before they expire."""

    def __init__(self, *, platform: str, api_key: str, api_secret: str,
                 clock: Callable[[], float] = time.monotonic, sleep: Callable[[float], None] = time.sleep) -> None:
        self.platform = platform.rstrip("/")
        self.sleep = sleep
        self.api_key, self.api_secret = api_key, api_secret
        self.clock = clock
        self.token = ""
        self.expires_at = 0.0
        self.on_token_request: Callable[[], None] = lambda: None

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        if not self.token or self.clock() >= self.expires_at - REFRESH_MARGIN_SECONDS:
            self.refresh()
        request.headers["Authorization"] = f"Bearer {self.token}"
        response = yield request
        if response.status_code == 401:  # revoked or expired early: one fresh token, one retry
            self.refresh()
            request.headers["Authorization"] = f"Bearer {self.token}"
            yield request

    def refresh(self) -> None:
        response = self._request_token()
        if response.status_code in (400, 401, 403):
            raise ConnectorError(f"Datto RMM refused the API key and secret (HTTP {response.status_code}); check "
                                 "them on the connector.")
        try:
            body = response.json()
            self.token = str(body["access_token"])
            lifetime = float(body.get("expires_in") or 3600)
        except (ValueError, KeyError, TypeError) as error:
            raise ConnectorError(f"Datto RMM's token endpoint answered HTTP {response.status_code} without a "
                                 "token.") from error
        self.expires_at = self.clock() + lifetime

    def _request_token(self) -> httpx.Response:
        """The token request, tried again after a pause when Datto is busy (429/5xx) or unreachable."""
        for attempt in range(1, TOKEN_ATTEMPTS + 1):
            self.on_token_request()
            try:
                response = httpx.post(f"{self.platform}/auth/oauth/token", auth=("public-client", "public"),
                                      timeout=30, data={"grant_type": "password", "username": self.api_key,
                                                        "password": self.api_secret})
            except httpx.TransportError as error:
                if attempt == TOKEN_ATTEMPTS:
                    raise ConnectorError(f"Cannot reach Datto RMM at {self.platform}: {error}") from error
            else:
                busy = response.status_code == 429 or response.status_code >= 500
                if not busy or attempt == TOKEN_ATTEMPTS:
                    return response
            self.sleep(2.0 ** attempt)
        raise AssertionError("unreachable")


def client_for(connector: Connector) -> VendorClient:
    platform = checked_base_url(connector.base_url)
    auth = DattoAuth(platform=platform.rstrip("/"), api_key=connector.token_id, api_secret=connector.token_secret)
    client = VendorClient(base_url=platform + "api/", auth=auth,
                          # One second of margin: the vendor counts arrivals, we count departures.
                          rate_limit=RateLimit(requests=REQUESTS_PER_MINUTE, per_seconds=61))

    def count_token_request() -> None:
        client.requests += 1

    auth.on_token_request = count_token_request
    return client


def _json(client: VendorClient, method: str, path: str, **kwargs: Any) -> dict[str, Any]:
    response = client.request(method, path, **kwargs)
    if response.status_code >= 400:
        raise ConnectorError(f"Datto RMM answered HTTP {response.status_code} on {path}: {response.text[:200]}")
    try:
        body = response.json()
    except ValueError as error:
        raise ConnectorError(f"{path} did not answer JSON (HTTP {response.status_code}).") from error
    return body if isinstance(body, dict) else {}


def pages(client: VendorClient, path: str, key: str) -> Iterator[tuple[list[dict[str, Any]], int | None]]:
    """Each page's items and the announced total, following ``pageDetails.nextPageUrl`` until it is empty."""
    url: str | None = path
    params: dict[str, Any] | None = {"max": PAGE, "page": 0}
    while url:
        body = _json(client, "GET", url, params=params)
        details = body.get("pageDetails") or {}
        yield [item for item in body.get(key) or [] if isinstance(item, dict)], details.get("totalCount")
        url, params = details.get("nextPageUrl") or None, None  # the next URL carries its own query


def _epoch_ms_time(value: Any) -> datetime | None:
    """Datto's times are epoch milliseconds; anything else (or beyond year 9999) is no time at all."""
    if not isinstance(value, int | float) or isinstance(value, bool) or value <= 0:
        return None
    try:
        return datetime.fromtimestamp(value / 1000, tz=UTC)
    except (OverflowError, ValueError, OSError):
        return None


def _epoch_ms(value: Any) -> str:
    moment = _epoch_ms_time(value)
    return moment.isoformat() if moment else ""


def _os_type(operating_system: str) -> str:
    text = operating_system.lower()
    for needle, os_type in (("windows", OsType.WINDOWS), ("mac", OsType.MACOS), ("linux", OsType.LINUX),
                            ("ubuntu", OsType.LINUX), ("debian", OsType.LINUX), ("centos", OsType.LINUX),
                            ("red hat", OsType.LINUX)):
        if needle in text:
            return os_type
    return OsType.OTHER


def sync(context: SyncContext) -> None:
    client = context.client
    context.progress("sites")
    sites: list[dict[str, Any]] = []
    for items, _ in pages(client, "v2/account/sites", "sites"):
        sites.extend(items)
    for site in sites:
        uid = site.get("uid")
        upsert_company(context, external_id=uid, name=site.get("name", ""), source=SOURCE)
        upsert_site(context, external_id=uid, name=site.get("name", ""), company_external_id=uid, source=SOURCE,
                    description=site.get("description") or "")
    write_udf = context.connector.write_account_numbers and bool(
        UDF_FIELD.match(context.connector.account_number_field or ""))
    for number, site in enumerate(sites, start=1):
        context.progress(f"devices of {site.get('name', '')}", done=number - 1, total=len(sites))
        for items, _ in pages(client, f"v2/site/{site.get('uid')}/devices", "devices"):
            for device in items:
                if device.get("deleted"):
                    continue  # gone in Datto: like any vanished item it becomes stale
                _sync_device(context, device)
                if write_udf:
                    _write_account_number(context, device)


def _sync_device(context: SyncContext, device: dict[str, Any]) -> None:
    patches = device.get("patchManagement") or {}
    operating_system = str(device.get("operatingSystem") or "")
    addresses = [str(a) for a in (device.get("intIpAddress"), device.get("extIpAddress")) if a]
    upsert_device(context, UpstreamDevice(
        external_id=str(device.get("uid")), hostname=str(device.get("hostname") or ""),
        site_external_id=device.get("siteUid"), source=SOURCE, online=bool(device.get("online")),
        addresses=addresses, os_type=_os_type(operating_system), os_version=operating_system,
        description=str(device.get("description") or ""), last_seen=_epoch_ms_time(device.get("lastSeen")),
        facts={"internal_ip": device.get("intIpAddress") or "", "external_ip": device.get("extIpAddress") or "",
               "last_seen": _epoch_ms(device.get("lastSeen")), "last_reboot": _epoch_ms(device.get("lastReboot")),
               "reboot_required": bool(device.get("rebootRequired")),
               "patch_status": patches.get("patchStatus") or "",
               "patches_pending": patches.get("patchesApprovedPending"),
               "patches_not_approved": patches.get("patchesNotApproved")}))


def _write_account_number(context: SyncContext, device: dict[str, Any]) -> None:
    """Put the device's company account number into the configured UDF when it differs."""
    field = context.connector.account_number_field
    company_id = context.object_id(Kind.COMPANY, device.get("siteUid"))
    number = rows_for_system(Company).filter(pk=company_id).values_list("account_number", flat=True).first()
    if not number or (device.get("udf") or {}).get(field) == number:
        return
    path = f"v2/device/{device.get('uid')}/udf"
    for _ in range(2):  # 409: someone else wrote at the same moment; once more after them
        response = context.client.request("POST", path, json={field: number})
        if response.status_code != 409:
            break
    if response.status_code < 300:
        context.run.written_upstream += 1
    else:
        context.item_failed(kind=Kind.DEVICE, external_id=device.get("uid"), label=str(device.get("hostname") or ""),
                            error=f"UDF write answered HTTP {response.status_code}")
