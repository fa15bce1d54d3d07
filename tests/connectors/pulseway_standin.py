"""A stand-in Pulseway REST API v3 on loopback: Basic auth, the {Data, Meta} envelope, $top/$skip
paging (100 at most), 401 for wrong credentials, and optional 429 (with Retry-After) and 500 answers."""

from __future__ import annotations

import base64
import json
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse


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


class PulsewayStandIn:
    def __init__(self, data: PulsewayData) -> None:
        self.data = data
        self.expected = "Basic " + base64.b64encode(f"{TOKEN_ID}:{TOKEN_SECRET}".encode()).decode()
        self.requests = 0
        self.throttle_every = 0  # answer 429 to every n-th request when > 0
        self.fail_once: set[str] = set()  # paths that answer 500 once

    def start(self) -> None:
        stand_in = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                stand_in.requests += 1
                parsed = urlparse(self.path)
                path = parsed.path.removeprefix("/v3/").strip("/")
                if self.headers.get("Authorization") != stand_in.expected:
                    return self._send(401, {"Data": None, "Meta": {"ResponseCode": 401,
                                                                  "ErrorMessage": "Unauthorized."}})
                if stand_in.throttle_every and stand_in.requests % stand_in.throttle_every == 0:
                    return self._send(429, {"Data": None, "Meta": {"ResponseCode": 429}}, {"Retry-After": "0"})
                if path in stand_in.fail_once:
                    stand_in.fail_once.discard(path)
                    return self._send(500, {"Data": None, "Meta": {"ResponseCode": 500, "ErrorMessage": "Oops"}})
                query = parse_qs(parsed.query)
                top = min(int(query.get("$top", ["100"])[0]), 100)
                skip = int(query.get("$skip", ["0"])[0])
                lists = {"organizations": stand_in.data.organizations, "sites": stand_in.data.sites,
                         "groups": stand_in.data.groups,
                         "devices": [{k: d[k] for k in SUMMARY_FIELDS} for d in stand_in.data.devices]}
                if path in lists:
                    items = lists[path]
                    return self._send(200, {"Data": items[skip:skip + top],
                                            "Meta": {"ResponseCode": 200, "TotalCount": len(items)}})
                if path.startswith("devices/"):
                    found = [d for d in stand_in.data.devices if d["Identifier"] == path.split("/", 1)[1]]
                    if found:
                        return self._send(200, {"Data": found[0], "Meta": {"ResponseCode": 200}})
                return self._send(404, {"Data": None, "Meta": {"ResponseCode": 404,
                                                              "ErrorMessage": "Entity is not found."}})

            def _send(self, status: int, body: dict, headers: dict | None = None) -> None:
                payload = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                for name, value in (headers or {}).items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/v3/"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        self.server.shutdown()
