"""A stand-in Freshservice API v2 on loopback: Basic auth with the API key and "X", `page`/`per_page`
paging with a `Link: <…>; rel="next"` header, the `X-RateLimit-*` headers of a per-minute budget (429 with
Retry-After past it), the documented error body, and department updates."""

from __future__ import annotations

import base64
import json
import time
from dataclasses import dataclass, field
from typing import Any

from tests.connectors.standin import Answer, StandIn

API_KEY = "fs-api-key"  # the stand-in's only valid key (a test value)


@dataclass
class FreshserviceData:
    departments: list[dict] = field(default_factory=list)
    requesters: list[dict] = field(default_factory=list)


def sample_data(departments: int = 2, requesters_each: int = 3) -> FreshserviceData:
    data = FreshserviceData()
    for d in range(1, departments + 1):
        department_id = 7000 + d
        data.departments.append({"id": department_id, "name": f"Department {d}", "description": "",
                                 "custom_fields": {"account_number": None}, "domains": [f"d{d}.example.com"]})
        for r in range(1, requesters_each + 1):
            data.requesters.append({
                "id": department_id * 10_000 + r, "first_name": f"Person{r}", "last_name": f"D{d}",
                "job_title": "Office manager" if r == 1 else "Staff", "primary_email": f"p{r}@d{d}.example.com",
                "work_phone_number": "555-0101", "mobile_phone_number": None, "department_ids": [department_id],
                "active": True, "custom_fields": {}})
    return data


class FreshserviceStandIn(StandIn):
    prefix = "/api/v2/"

    def __init__(self, data: FreshserviceData, *, budget_per_minute: int = 0) -> None:
        super().__init__()
        self.data = data
        self.expected = "Basic " + base64.b64encode(f"{API_KEY}:X".encode()).decode()
        self.budget = budget_per_minute  # 0: unlimited (headers still sent)
        self.used: list[float] = []
        self.department_updates: list[tuple[int, dict]] = []
        self.known_fields = {"account_number"}
        self.tickets: list[dict] = []

    def handle(self, method: str, path: str, query: dict[str, list[str]], headers: Any, body: bytes) -> Answer:
        if headers.get("Authorization") != self.expected:
            return 401, {"code": "access_denied", "message": "You are not authorized to perform this action."}, {}
        now = time.monotonic()
        with self.lock:
            self.used = [t for t in self.used if t > now - 60]
            total = self.budget or 5000
            if self.budget and len(self.used) >= self.budget:
                return 429, {"message": "Rate limit exceeded"}, {"Retry-After": "0", "X-RateLimit-Total": str(total),
                                                                  "X-RateLimit-Remaining": "0"}
            self.used.append(now)
            limits = {"X-RateLimit-Total": str(total), "X-RateLimit-Remaining": str(total - len(self.used)),
                      "X-RateLimit-Used-CurrentRequest": "1"}
        if method == "GET" and path in ("departments", "requesters"):
            items = self.data.departments if path == "departments" else self.data.requesters
            per_page = min(int(query.get("per_page", ["30"])[0]), 100)
            page = int(query.get("page", ["1"])[0])
            chunk = items[(page - 1) * per_page:page * per_page]
            if page * per_page < len(items):
                limits["Link"] = f'<{self.origin}/api/v2/{path}?per_page={per_page}&page={page + 1}>; rel="next"'
            return 200, {path: chunk}, limits
        if method == "PUT" and path.startswith("departments/"):
            department_id = int(path.split("/")[1])
            values = json.loads(body or b"{}")
            unknown = set(values.get("custom_fields") or {}) - self.known_fields
            if unknown:
                return 400, {"description": "Validation failed", "errors": [
                    {"field": name, "message": "Unexpected/invalid field in request", "code": "invalid_field"}
                    for name in sorted(unknown)]}, limits
            for department in self.data.departments:
                if department["id"] == department_id:
                    department["custom_fields"].update(values.get("custom_fields") or {})
                    self.department_updates.append((department_id, values))
                    return 200, {"department": department}, limits
            return 404, {"code": "not_found", "message": "Department not found"}, limits
        if method == "POST" and path == "tickets":
            ticket = json.loads(body or b"{}")
            missing = [name for name in ("subject", "description", "priority", "status") if ticket.get(name) is None]
            if not (ticket.get("email") or ticket.get("requester_id")):
                missing.append("requester_id")
            if missing or ticket.get("priority") not in (1, 2, 3, 4):
                return 400, {"description": "Validation failed", "errors": [
                    {"field": name, "message": "It should not be blank as this is a mandatory field",
                     "code": "missing_field"} for name in missing or ["priority"]]}, limits
            with self.lock:
                ticket = {**ticket, "id": 1000 + len(self.tickets)}
                self.tickets.append(ticket)
            return 201, {"ticket": ticket}, limits
        return 404, {"code": "not_found", "message": "Not found"}, limits
