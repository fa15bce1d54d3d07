"""Benchmark: ``devices(first: 100)`` with site, company and group, the dashboard's overview and device list
(first page, a search, filters) and the global search box as it answers while typing, over 10,000 devices.

Prints median and p95 latency and the SQL query count of each. Runs against a throw-away database: a fresh
SQLite file (embedded), or the PostgreSQL database named by ``DATABASE_URL`` (created if missing and
emptied first). Usage: ``python -m tests.bench.graphql_devices [--devices N] [--runs N]``.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

from tests.bench.environment import set_up_django


def _seed(device_count: int):
    from django.core.management import call_command

    from portal.access import Role, actor_for_user
    from portal.accounts.models import User
    from portal.accounts.services import create_api_token
    from portal.inventory.models import Device
    from portal.tenancy.models import Company, Group, Site

    call_command("migrate", verbosity=0)
    call_command("flush", interactive=False, verbosity=0)
    companies = Company.objects.bulk_create([Company(name=f"Client {n:03d}") for n in range(50)])
    sites = Site.objects.bulk_create([Site(company=c, name=f"Site {n}") for c in companies for n in range(4)])
    groups = Group.objects.bulk_create([Group(site=s, name=f"Group {n}") for s in sites for n in range(2)])
    devices = []
    for n in range(device_count):
        group = groups[n % len(groups)]
        devices.append(Device(company_id=group.site.company_id, site=group.site, group=group,
                              hostname=f"host-{n:05d}", os_type="linux", status="online",
                              serial_number=f"SN{n:07d}", ip_addresses=f"10.{n // 250}.{n % 250}.7 fe80::{n:x}"))
    Device.objects.bulk_create(devices, batch_size=1000)
    user = User.objects.create_user(username="bench", role=Role.OPERATOR, all_companies=True)
    return create_api_token(actor=actor_for_user(user), name="bench").plaintext


QUERY = """{ devices(first: 100, ordering: [{hostname: ASC}]) { totalCount
  edges { node { id hostname status site { name company { name } } group { name } company { name } } } } }"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--devices", type=int, default=10_000)
    parser.add_argument("--runs", type=int, default=50)
    args = parser.parse_args()
    set_up_django()
    from django.conf import settings
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    settings.ALLOWED_HOSTS = ["*"]
    token = _seed(args.devices)
    client = Client(HTTP_AUTHORIZATION=f"Bearer {token}")
    body = json.dumps({"query": QUERY})

    def run() -> dict:
        response = client.post("/graphql/", body, content_type="application/json")
        assert response.status_code == 200, response.content[:500]
        return response.json()

    run()  # warm caches and the token's last-used write
    latencies = []
    for _ in range(args.runs):
        started = time.perf_counter()
        result = run()
        latencies.append((time.perf_counter() - started) * 1000)
    with CaptureQueriesContext(connection) as captured:
        result = run()
    assert len(result["data"]["devices"]["edges"]) == 100
    latencies.sort()
    p95 = latencies[max(0, int(len(latencies) * 0.95) - 1)]
    print(f"graphql devices(first: 100) nested, {args.devices} devices, {connection.vendor}: "
          f"median {statistics.median(latencies):.1f} ms, p95 {p95:.1f} ms, {len(captured)} SQL queries "
          f"({args.runs} runs)")
    _dashboard_pages(args.runs, args.devices)


def _dashboard_pages(runs: int, device_count: int) -> None:
    """The device list as a browser asks for it: a full page load and an htmx search swap."""
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    from portal.accounts.models import User
    from portal.tenancy.models import Company

    client = Client()
    client.force_login(User.objects.get(username="bench"))
    company = Company.objects.order_by("pk").first()
    pages = {
        "overview": ("/", {}),
        "device list, first page": ("/devices/", {}),
        "device list, search 'host-0042' (htmx swap)": ("/devices/", {"q": "host-0042", "HTTP_HX_REQUEST": "true"}),
        "device list, search an IP '10.16.200.7'": ("/devices/", {"q": "10.16.200.7", "HTTP_HX_REQUEST": "true"}),
        "device list, search a serial 'SN0004242'": ("/devices/", {"q": "SN0004242", "HTTP_HX_REQUEST": "true"}),
        "device list, company + status filters, sorted by last seen": (
            "/devices/", {"company": company.pk, "status": "online", "sort": "-last_seen"}),
        "global search as you type 'host-0042' (htmx)": ("/search/", {"q": "host-0042", "HTTP_HX_REQUEST": "true"}),
        "global search as you type an IP '10.16.200.7' (htmx)": (
            "/search/", {"q": "10.16.200.7", "HTTP_HX_REQUEST": "true"}),
        "global search as you type a serial 'SN0004242' (htmx)": (
            "/search/", {"q": "SN0004242", "HTTP_HX_REQUEST": "true"}),
        "global search as you type 'client 01' (htmx)": ("/search/", {"q": "client 01", "HTTP_HX_REQUEST": "true"}),
    }
    for label, (url, params) in pages.items():
        headers = {k: v for k, v in params.items() if k.startswith("HTTP_")}
        query = {k: v for k, v in params.items() if not k.startswith("HTTP_")}
        client.get(url, query, **headers)
        latencies = []
        for _ in range(runs):
            started = time.perf_counter()
            response = client.get(url, query, **headers)
            latencies.append((time.perf_counter() - started) * 1000)
            assert response.status_code == 200
        with CaptureQueriesContext(connection) as captured:
            client.get(url, query, **headers)
        latencies.sort()
        p95 = latencies[max(0, int(len(latencies) * 0.95) - 1)]
        print(f"{label}, {device_count} devices, {connection.vendor}: median {statistics.median(latencies):.1f} ms, "
              f"p95 {p95:.1f} ms, {len(captured)} SQL queries ({runs} runs)")


if __name__ == "__main__":
    main()
