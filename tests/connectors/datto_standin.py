"""A stand-in Datto RMM API v2 on loopback: the OAuth password grant (Basic public-client:public, form body
with the API key and secret), Bearer tokens that expire, `page`/`max` paging with `pageDetails.nextPageUrl`,
a request budget per window answered with 429 + Retry-After when exceeded, and the device UDF write."""

from __future__ import annotations

import base64
import json
import secrets
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs

from tests.connectors.standin import Answer, StandIn

API_KEY, API_SECRET = "datto-key", "datto-secret"  # the stand-in's only valid credentials (test values)
PUBLIC_CLIENT = "Basic " + base64.b64encode(b"public-client:public").decode()


@dataclass
class DattoData:
    sites: list[dict] = field(default_factory=list)
    devices: list[dict] = field(default_factory=list)


def sample_data(sites: int = 2, devices_each: int = 3) -> DattoData:
    data = DattoData()
    for s in range(1, sites + 1):
        uid = f"site-{s:04d}"
        data.sites.append({"id": s, "uid": uid, "accountUid": "acct", "name": f"Client {s}", "description": "",
                           "onDemand": False, "devicesStatus": {"numberOfDevices": devices_each}})
        for d in range(1, devices_each + 1):
            data.devices.append({
                "id": s * 1000 + d, "uid": f"dev-{s:04d}-{d:05d}", "siteId": s, "siteUid": uid,
                "siteName": f"Client {s}", "deviceType": {"category": "Desktop", "type": "Desktop"},
                "hostname": f"dt-{s}-{d}", "intIpAddress": f"192.168.{s}.{d % 250 + 1}",
                "extIpAddress": "198.51.100.4", "operatingSystem": "Microsoft Windows 11 Pro 23H2",
                "online": d % 2 == 1, "deleted": False, "suspended": False, "rebootRequired": d == 1,
                "lastSeen": 1721131200000, "lastReboot": 1721000000000,
                "patchManagement": {"patchStatus": "ApprovedPending", "patchesApprovedPending": 2,
                                    "patchesNotApproved": 0, "patchesInstalled": 40},
                "udf": {f"udf{n}": None for n in range(1, 31)}})
    return data


class DattoStandIn(StandIn):
    prefix = "/api/"

    def __init__(self, data: DattoData, *, token_seconds: int = 360_000, budget: int = 0,
                 window_seconds: float = 60.0) -> None:
        super().__init__()
        self.data = data
        self.token_seconds = token_seconds
        self.tokens: dict[str, float] = {}  # token → expiry (monotonic)
        self.token_requests = 0
        self.token_failures = 0  # answer 503 to this many token requests first
        self.budget, self.window_seconds = budget, window_seconds  # 0: no budget enforced
        self.window: list[float] = []
        self.throttled = 0
        self.udf_writes: list[tuple[str, dict]] = []
        self.conflict_once: set[str] = set()

    def _answer(self, method: str, raw_path: str, headers: Any, body: bytes) -> Answer:
        if raw_path.startswith("/auth/oauth/token"):
            return self._token(headers, body)
        return super()._answer(method, raw_path, headers, body)

    def _token(self, headers: Any, body: bytes) -> Answer:
        self.token_requests += 1
        if self.token_failures:
            self.token_failures -= 1
            return 503, {"error": "Service unavailable"}, {}
        form = {k: v[0] for k, v in parse_qs(body.decode()).items()}
        if headers.get("Authorization") != PUBLIC_CLIENT or form.get("grant_type") != "password":
            return 401, {"error": "unauthorized"}, {}
        if (form.get("username"), form.get("password")) != (API_KEY, API_SECRET):
            return 400, {"error": "invalid_grant", "error_description": "Bad credentials"}, {}
        token = secrets.token_hex(8)
        self.tokens[token] = time.monotonic() + self.token_seconds
        return 200, {"access_token": token, "token_type": "bearer", "expires_in": self.token_seconds,
                     "scope": "default"}, {}

    def handle(self, method: str, path: str, query: dict[str, list[str]], headers: Any, body: bytes) -> Answer:
        token = (headers.get("Authorization") or "").removeprefix("Bearer ")
        if self.tokens.get(token, 0) < time.monotonic():
            return 401, {"error": "invalid_token"}, {}
        if self.budget:
            now = time.monotonic()
            with self.lock:
                self.window = [t for t in self.window if t > now - self.window_seconds]
                if len(self.window) >= self.budget:
                    self.throttled += 1
                    return 429, {"error": "rate limit"}, {"Retry-After": "1"}
                self.window.append(now)
        if method == "GET" and path == "v2/account/sites":
            return self._page(path, query, "sites", self.data.sites)
        if method == "GET" and path.startswith("v2/site/") and path.endswith("/devices"):
            uid = path.split("/")[2]
            if not any(site["uid"] == uid for site in self.data.sites):
                return 404, {"message": "Site not found"}, {}
            return self._page(path, query, "devices", [d for d in self.data.devices if d["siteUid"] == uid])
        if method == "POST" and path.startswith("v2/device/") and path.endswith("/udf"):
            uid = path.split("/")[2]
            if uid in self.conflict_once:
                self.conflict_once.discard(uid)
                return 409, {"message": "Concurrent modification"}, {}
            values = json.loads(body or b"{}")
            for device in self.data.devices:
                if device["uid"] == uid:
                    device["udf"].update({k: (v or None) for k, v in values.items()})
                    self.udf_writes.append((uid, values))
                    return 200, {}, {}
            return 404, {"message": "Device not found"}, {}
        return 404, {"message": "Not found"}, {}

    def _page(self, path: str, query: dict[str, list[str]], key: str, items: list[dict]) -> Answer:
        size = min(int(query.get("max", ["250"])[0]), 250)
        page = int(query.get("page", ["0"])[0])
        chunk = items[page * size:(page + 1) * size]
        more = (page + 1) * size < len(items)
        next_url = f"{self.origin}/api/{path}?max={size}&page={page + 1}" if more else None
        return 200, {"pageDetails": {"count": len(chunk), "totalCount": len(items), "prevPageUrl": None,
                                     "nextPageUrl": next_url}, key: chunk}, {}
