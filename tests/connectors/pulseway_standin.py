"""A stand-in Pulseway REST API v3 on loopback: Basic auth, the {Data, Meta} envelope, $top/$skip
paging (100 at most), 401 for wrong credentials, optional 429 (with Retry-After) and 500 answers, and
automation script runs whose executions are polled for state, output and exit code."""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass, field
from typing import Any

from tests.connectors.standin import Answer, StandIn


@dataclass
class PulsewayData:
    organizations: list[dict] = field(default_factory=list)
    sites: list[dict] = field(default_factory=list)
    groups: list[dict] = field(default_factory=list)
    devices: list[dict] = field(default_factory=list)  # full detail; the list shows the summary fields


SUMMARY_FIELDS = ("Identifier", "Name", "GroupId", "GroupName", "SiteId", "SiteName", "OrganizationId",
                  "OrganizationName", "IsAgentInstalled")


def sample_data(organizations: int = 2, sites_each: int = 2, devices_each: int = 3) -> PulsewayData:
    data = PulsewayData()
    for o in range(1, organizations + 1):
        data.organizations.append({"Id": o, "Name": f"Org {o}", "HasCustomFields": False})
        for s in range(1, sites_each + 1):
            site_id = o * 100 + s
            data.sites.append({"Id": site_id, "Name": f"Org {o} Site {s}", "ParentId": o, "ParentName": f"Org {o}",
                               "ContactInformation": {"Phone": "555-0100", "Email": f"site{site_id}@example.com"}})
            data.groups.append({"Id": site_id * 10, "Name": "Servers", "ParentSiteId": site_id,
                                "ParentSiteName": f"Org {o} Site {s}", "Notes": ""})
            for d in range(1, devices_each + 1):
                identifier = f"00000000-0000-0000-{site_id:04d}-{d:012d}"
                data.devices.append({
                    "Identifier": identifier, "Name": f"pw-{site_id}-{d}", "GroupId": site_id * 10,
                    "GroupName": "Servers", "SiteId": site_id, "SiteName": f"Org {o} Site {s}", "OrganizationId": o,
                    "OrganizationName": f"Org {o}", "IsAgentInstalled": True, "IsOnline": d % 2 == 1,
                    "Uptime": "3 days", "ExternalIpAddress": "203.0.113.7", "ClientVersion": "9.3.1",
                    "Description": "", "LocalIpAddresses": [{"Name": "eth0", "IpV4": f"10.{o}.{s}.{d}"}]})
    return data


# The stand-in's only valid credentials (test values, not secrets).
TOKEN_ID, TOKEN_SECRET = "tok-id", "tok-secret"


class PulsewayStandIn(StandIn):
    prefix = "/v3/"

    def __init__(self, data: PulsewayData) -> None:
        super().__init__()
        self.data = data
        self.expected = "Basic " + base64.b64encode(f"{TOKEN_ID}:{TOKEN_SECRET}".encode()).decode()
        # Automation: script id → the states an execution goes through, one per poll, with its output.
        self.scripts: dict[str, list[dict]] = {}
        self.executions: dict[str, dict] = {}
        self._by_identifier: dict[str, dict] = {}
        self._indexed: list[dict] | None = None

    def start(self) -> None:
        super().start()
        self.url = f"{self.origin}/v3/"

    def handle(self, method: str, path: str, query: dict[str, list[str]], headers: Any, body: bytes) -> Answer:
        if headers.get("Authorization") != self.expected:
            return 401, {"Data": None, "Meta": {"ResponseCode": 401, "ErrorMessage": "Unauthorized."}}, {}
        if method == "POST" and path.startswith("automation/scripts/") and path.endswith("/run"):
            return self._run_script(path.split("/")[2], json.loads(body or b"{}"))
        if method == "GET" and path.startswith("automation/scripts/") and "/executions/" in path:
            execution = self.executions.get(path.rsplit("/", 1)[1])
            if execution is None:
                return 404, {"Data": None, "Meta": {"ResponseCode": 404, "ErrorMessage": "Entity is not found."}}, {}
            states = execution["states"]
            current = states[min(execution["polls"], len(states) - 1)]
            execution["polls"] += 1
            return 200, {"Data": current, "Meta": {"ResponseCode": 200}}, {}
        top = min(int(query.get("$top", ["100"])[0]), 100)
        skip = int(query.get("$skip", ["0"])[0])
        lists = {"organizations": self.data.organizations, "sites": self.data.sites, "groups": self.data.groups,
                 "devices": self.data.devices}
        if method == "GET" and path in lists:
            items = lists[path]
            page = items[skip:skip + top]
            if path == "devices":  # the list shows only the summary fields
                page = [{k: d[k] for k in SUMMARY_FIELDS} for d in page]
            return 200, {"Data": page, "Meta": {"ResponseCode": 200, "TotalCount": len(items)}}, {}
        if method == "GET" and path.startswith("devices/"):
            found = self._device(path.split("/", 1)[1])
            if found:
                return 200, {"Data": found, "Meta": {"ResponseCode": 200}}, {}
        return 404, {"Data": None, "Meta": {"ResponseCode": 404, "ErrorMessage": "Entity is not found."}}, {}

    def _device(self, identifier: str | None) -> dict | None:
        if len(self._by_identifier) != len(self.data.devices) or self._indexed is not self.data.devices:
            self._by_identifier = {d["Identifier"]: d for d in self.data.devices}
            self._indexed = self.data.devices
        return self._by_identifier.get(identifier)

    def _run_script(self, script_id: str, body: dict) -> Answer:
        device = self._device(body.get("DeviceIdentifier"))
        if script_id not in self.scripts or device is None:
            return 404, {"Data": None, "Meta": {"ResponseCode": 404, "ErrorMessage": "Entity is not found."}}, {}
        if not device.get("IsOnline"):
            return 400, {"Data": None, "Meta": {"ResponseCode": 400, "ErrorMessage": "The device is offline."}}, {}
        execution_id = str(len(self.executions) + 1)
        self.executions[execution_id] = {"states": self.scripts[script_id], "polls": 0, "body": body}
        return 200, {"Data": {"ExecutionId": execution_id}, "Meta": {"ResponseCode": 200}}, {}
