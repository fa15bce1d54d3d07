"""Pulseway REST API v3: Basic auth with token id and secret, the {Data, Meta} envelope, $top/$skip
paging (100 at most); organizations → companies, sites → sites, groups → groups, devices → devices.

Pulseway documents no rate limit; 429 with Retry-After and 5xx are still honoured by the client."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx

from connectors.engine import Kind, SyncContext
from connectors.http import ConnectorError, VendorClient, checked_base_url
from connectors.models import Connector
from connectors.records import UpstreamDevice, upsert_company, upsert_device, upsert_group, upsert_site

PAGE = 100
SOURCE = "pulseway"
# Device details are one request each (the list lacks online state and addresses): a few at a time.
DETAIL_REQUESTS_IN_FLIGHT = 8


def client_for(connector: Connector) -> VendorClient:
    return VendorClient(base_url=checked_base_url(connector.base_url),
                        auth=httpx.BasicAuth(connector.token_id, connector.token_secret))


class PulsewayClient:
    def __init__(self, client: VendorClient) -> None:
        self.client = client

    def _data(self, method: str, path: str, **kwargs: Any) -> tuple[Any, dict[str, Any]]:
        response = self.client.request(method, path, **kwargs)
        try:
            body = response.json()
        except ValueError as error:
            raise ConnectorError(f"{path} did not answer JSON (HTTP {response.status_code}).") from error
        meta = (body.get("Meta") if isinstance(body, dict) else None) or {}
        code = meta.get("ResponseCode", response.status_code)
        if response.status_code >= 400 or (isinstance(code, int) and code >= 400):
            raise ConnectorError(f"{path}: {meta.get('ErrorMessage') or 'error'} (code {code}).")
        return body.get("Data"), meta

    def pages(self, path: str) -> Iterator[tuple[list[dict[str, Any]], int | None]]:
        """Every page of a list ($top=100, $skip) with the total the server announced."""
        skip = 0
        while True:
            data, meta = self._data("GET", path, params={"$top": PAGE, "$skip": skip})
            items = data or []
            total = meta.get("TotalCount")
            yield items, total
            skip += len(items)
            if len(items) < PAGE or (total is not None and skip >= total):
                return

    def all(self, path: str) -> Iterator[dict[str, Any]]:
        for items, _ in self.pages(path):
            yield from items

    def one(self, path: str) -> dict[str, Any]:
        data, _ = self._data("GET", path)
        return data or {}

    def run_script(self, *, script_id: str, device_identifier: str, variables: list[dict[str, Any]]) -> str:
        data, _ = self._data("POST", f"automation/scripts/{script_id}/run",
                             json={"DeviceIdentifier": device_identifier, "Variables": variables})
        execution = (data or {}).get("ExecutionId")
        if not execution:
            raise ConnectorError("Pulseway accepted the script run but gave no execution id.")
        return str(execution)

    def execution(self, *, script_id: str, device_identifier: str, execution_id: str) -> dict[str, Any]:
        return self.one(f"automation/scripts/{script_id}/device/{device_identifier}/executions/{execution_id}")


def sync(context: SyncContext) -> None:
    api = PulsewayClient(context.client)
    context.progress("organizations")
    for org in api.all("organizations"):
        upsert_company(context, external_id=org["Id"], name=org.get("Name", ""), source=SOURCE)
    context.progress("sites")
    for site in api.all("sites"):
        contact = site.get("ContactInformation") or {}
        upsert_site(context, external_id=site["Id"], name=site.get("Name", ""),
                    company_external_id=site.get("ParentId"), source=SOURCE, phone=contact.get("Phone") or "",
                    email=contact.get("Email") or "")
    context.progress("groups")
    for group in api.all("groups"):
        upsert_group(context, external_id=group["Id"], name=group.get("Name", ""),
                     site_external_id=group.get("ParentSiteId"), source=SOURCE, notes=group.get("Notes") or "")
    done = 0
    with ThreadPoolExecutor(max_workers=DETAIL_REQUESTS_IN_FLIGHT, thread_name_prefix="pulseway") as pool:
        for summaries, total in api.pages("devices"):
            context.progress("devices", done=done, total=total)
            # Fetched side by side, written one by one here (the database work stays on this thread).
            for summary, detail in zip(summaries, pool.map(lambda s: _detail(api, s), summaries), strict=True):
                done += 1
                _sync_device(context, summary, detail)


def _detail(api: PulsewayClient, summary: dict[str, Any]) -> dict[str, Any] | ConnectorError:
    try:
        return api.one(f"devices/{summary['Identifier']}")
    except ConnectorError as error:
        return error


def _sync_device(context: SyncContext, summary: dict[str, Any], detail: dict[str, Any] | ConnectorError) -> None:
    identifier = str(summary["Identifier"])
    if isinstance(detail, ConnectorError):
        context.upsert(kind=Kind.DEVICE, external_id=identifier, label=summary.get("Name", ""), values={},
                       create=lambda: _raise(detail), update=lambda pk: _raise(detail))
        return
    addresses = [a.get("IpV4") for a in detail.get("LocalIpAddresses") or [] if a.get("IpV4")]
    external_ip = detail.get("ExternalIpAddress") or ""
    upsert_device(context, UpstreamDevice(
        external_id=identifier, hostname=summary.get("Name", ""), site_external_id=summary.get("SiteId"),
        group_external_id=summary.get("GroupId"), source=SOURCE, online=bool(detail.get("IsOnline")),
        addresses=[*addresses, *([external_ip] if external_ip else [])], description=detail.get("Description") or "",
        facts={"ips": addresses, "external_ip": external_ip, "uptime": detail.get("Uptime") or "",
               "client_version": detail.get("ClientVersion") or ""}))


def _raise(error: Exception) -> Any:
    raise error
