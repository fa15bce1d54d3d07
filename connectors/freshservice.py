"""Freshservice API v2: Basic auth with the API key (password "X"), `page`/`per_page` paging following
the `Link` header, and the account-wide per-minute budget read from the rate-limit headers.

Departments become companies (linked by name to ones that exist); requesters become contacts of
their first known department. Optionally departments without an account number get their company's,
in a department custom field named on the connector, off by default."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx

from connectors.engine import Kind, SyncContext
from connectors.http import ConnectorError, VendorClient, checked_base_url
from connectors.models import Connector
from connectors.records import upsert_company, upsert_contact
from portal.access import rows_for_system
from portal.tenancy.models import Company

SOURCE = "freshservice"
PAGE = 100
# When the minute's budget is spent, wait for the next minute rather than collect 429s.
BUDGET_WINDOW_SECONDS = 60.0


def pause_for_budget(response: httpx.Response) -> float:
    remaining = response.headers.get("X-RateLimit-Remaining")
    try:
        return BUDGET_WINDOW_SECONDS if remaining is not None and int(remaining) <= 0 else 0.0
    except ValueError:
        return 0.0


def client_for(connector: Connector) -> VendorClient:
    return VendorClient(base_url=checked_base_url(connector.base_url),
                        auth=httpx.BasicAuth(connector.token_secret, "X"), after_response=pause_for_budget)


def _check(response: httpx.Response, path: str) -> dict[str, Any]:
    if response.status_code >= 400:
        try:
            body = response.json()
            detail = "; ".join(f"{e.get('field')}: {e.get('message')}" for e in body.get("errors") or []) or \
                body.get("description", "")
        except (ValueError, AttributeError):
            detail = response.text[:200]
        raise ConnectorError(f"Freshservice answered HTTP {response.status_code} on {path}: {detail}"[:500])
    try:
        body = response.json()
    except ValueError as error:
        raise ConnectorError(f"{path} did not answer JSON (HTTP {response.status_code}).") from error
    return body if isinstance(body, dict) else {}


def pages(client: VendorClient, path: str, key: str) -> Iterator[list[dict[str, Any]]]:
    """Each page of a list, following the ``Link: <…>; rel="next"`` header until it is absent."""
    url: str | None = path
    params: dict[str, Any] | None = {"page": 1, "per_page": PAGE}
    while url:
        response = client.request("GET", url, params=params)
        body = _check(response, path)
        yield [item for item in body.get(key) or [] if isinstance(item, dict)]
        url, params = response.links.get("next", {}).get("url"), None


def sync(context: SyncContext) -> None:
    client = context.client
    context.progress("departments")
    departments: list[dict[str, Any]] = []
    for items in pages(client, "departments", "departments"):
        departments.extend(items)
    for department in departments:
        upsert_company(context, external_id=department["id"], name=department.get("name", ""), source=SOURCE)
    context.progress("requesters")
    done = 0
    for items in pages(client, "requesters", "requesters"):
        for requester in items:
            done += 1
            _sync_requester(context, requester)
        context.progress("requesters", done=done)
    field = context.connector.account_number_field
    if context.connector.write_account_numbers and field:
        context.progress("account numbers")
        for department in departments:
            _assign_account_number(context, department, field)


def _sync_requester(context: SyncContext, requester: dict[str, Any]) -> None:
    department_ids = [d for d in requester.get("department_ids") or [] if context.object_id(Kind.COMPANY, d)]
    if not department_ids:
        context.skip()  # a requester of no department we know has no company to belong to
        return
    name = " ".join(part for part in (requester.get("first_name"), requester.get("last_name")) if part)
    upsert_contact(context, external_id=requester["id"], company_external_id=department_ids[0],
                   name=name or str(requester.get("primary_email") or requester["id"]),
                   email=requester.get("primary_email") or "",
                   phone=requester.get("work_phone_number") or requester.get("mobile_phone_number") or "",
                   job_title=requester.get("job_title") or "", source=SOURCE)


def _assign_account_number(context: SyncContext, department: dict[str, Any], field: str) -> None:
    """Give a department without an account number its Fleetwatch company's (never overwrite one)."""
    if (department.get("custom_fields") or {}).get(field):
        return
    company_id = context.object_id(Kind.COMPANY, department["id"])
    number = rows_for_system(Company).filter(pk=company_id).values_list("account_number", flat=True).first()
    if not number:
        return
    path = f"departments/{department['id']}"
    try:
        _check(context.client.request("PUT", path, json={"custom_fields": {field: number}}), path)
        context.run.written_upstream += 1
    except ConnectorError as error:
        context.item_failed(kind=Kind.COMPANY, external_id=department["id"], label=department.get("name", ""),
                            error=str(error))


# Freshservice's ticket priorities (1 low … 4 urgent) by our alert severity.
TICKET_PRIORITY = {"info": 1, "low": 1, "medium": 2, "high": 3, "critical": 4}


def open_ticket(connector: Connector, *, subject: str, description: str, requester_email: str,
                severity: str) -> int:
    """Open a ticket (``POST /api/v2/tickets``: open, from the portal, priority by severity) and return its id;
    raises ConnectorError with the vendor's reason when it refuses."""
    client = client_for(connector)
    try:
        response = client.request("POST", "tickets", json={
            "subject": subject[:255], "description": description, "email": requester_email,
            "priority": TICKET_PRIORITY.get(severity, 2), "status": 2, "source": 2})
    finally:
        client.close()
    if response.status_code != 201:
        try:
            errors = response.json().get("errors") or []
        except ValueError:
            errors = []
        reasons = "; ".join(f"{e.get('field')}: {e.get('message')}" for e in errors if isinstance(e, dict))
        why = f": {reasons}" if reasons else ""
        raise ConnectorError(f"Freshservice did not open the ticket (HTTP {response.status_code}){why}.")
    return int(response.json()["ticket"]["id"])
