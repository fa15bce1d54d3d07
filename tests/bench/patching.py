"""Benchmark: patch management over an MSP-sized fleet (default 15,000 devices in 50 companies, 200 pending
updates each from a catalogue of Windows KBs, Linux packages and macOS labels: 3 million device-update pairs).

Measures the approval evaluation of every pair (goal < 5 s), the status job that stores each device's summary,
the approval queues and the catalogue's counts (first run, and a run where nothing changed), the compliance
page (goal < 200 ms) and the catalogue and queue pages as an all-company and a one-company technician, and a
patch window opening for every device at once (install actions queued). Prints median and p95 where a page is
timed. Runs against a throw-away database (a fresh SQLite file, or the PostgreSQL database of
``DATABASE_URL``, emptied first). Usage: ``python -m tests.bench.patching [--devices N] [--per-device N]``.
"""

from __future__ import annotations

import argparse
import random
import statistics
import time
from collections.abc import Callable
from datetime import timedelta

from tests.bench.environment import set_up_django

CATEGORIES = ["security"] * 5 + ["update"] * 3 + ["critical", "definition", "driver", "feature"]
SEVERITIES = ["", "", "low", "moderate", "important", "critical"]


def _seed(device_count: int, per_device: int) -> None:
    from django.core.management import call_command
    from django.db import connection
    from django.utils import timezone

    from portal.access import Role
    from portal.accounts.models import User
    from portal.inventory.models import AgentCredential, Device, PatchUpdate, PendingPatch
    from portal.tenancy.models import Company, Site

    call_command("migrate", verbosity=0)
    call_command("flush", interactive=False, verbosity=0)
    randomness = random.Random(20261205)
    now = timezone.now()
    companies = Company.objects.bulk_create([Company(name=f"Client {n:03d}", time_zone="Europe/Berlin")
                                             for n in range(50)])
    sites = Site.objects.bulk_create([Site(company=c, name=f"Site {n}") for c in companies for n in range(4)])
    pools: dict[str, list[PatchUpdate]] = {}
    for os_type, source, count in (("windows", "windows_update", 900), ("linux", "apt", 1500),
                                   ("macos", "softwareupdate", 300)):
        pools[os_type] = PatchUpdate.objects.bulk_create([PatchUpdate(
            source=source, identifier=f"KB50{n:05d}" if source == "windows_update" else f"{source}-package-{n}",
            version=f"{n}.0", title=f"{source} update {n}", category=randomness.choice(CATEGORIES),
            severity=randomness.choice(SEVERITIES), first_seen_at=now - timedelta(days=randomness.randint(0, 40)))
            for n in range(count)], batch_size=1000)
    devices = Device.objects.bulk_create([Device(
        company_id=site.company_id, site=site, hostname=f"host-{n:05d}",
        os_type=(os_type := randomness.choice(["windows", "windows", "linux", "macos"])), status="online",
        updates_scanned_at=now - timedelta(days=randomness.randint(0, 10)),
        reboot_pending_since=now if randomness.random() < 0.1 else None)
        for n in range(device_count) for site in [sites[n % len(sites)]]], batch_size=2000)
    AgentCredential.objects.bulk_create([AgentCredential(device=device, key_id=f"{device.pk:024x}",
                                                         secret_digest="0" * 64) for device in devices],
                                        batch_size=2000)
    table = connection.ops.quote_name(PendingPatch._meta.db_table)
    rows = []
    with connection.cursor() as cursor:
        for device in devices:
            pool = pools[device.os_type]
            rows += [(device.pk, update.pk, "", now) for update in randomness.sample(pool, min(per_device, len(pool)))]
            if len(rows) >= 50_000:
                cursor.executemany(f"INSERT INTO {table} (device_id, update_id, from_version, first_seen_at) "  # noqa: S608
                                   "VALUES (%s, %s, %s, %s)", rows)
                rows = []
        if rows:
            cursor.executemany(f"INSERT INTO {table} (device_id, update_id, from_version, first_seen_at) "  # noqa: S608
                               "VALUES (%s, %s, %s, %s)", rows)
    User.objects.create_user(username="msp", role=Role.OPERATOR, all_companies=True)
    scoped = User.objects.create_user(username="scoped", role=Role.OPERATOR)
    scoped.companies.add(companies[0])


def _policies() -> None:
    """The MSP's patching for everyone (a nightly window), a stricter one for servers (a dynamic group), and a
    few companies with their own rules and technicians' decisions."""
    from django.utils import timezone

    from portal.access import system_actor
    from portal.dynamic_groups.services import create_dynamic_group
    from portal.inventory.models import PatchUpdate
    from portal.patching import services
    from portal.policies.models import Level
    from portal.policies.services import assign_policy, create_policy
    from portal.tenancy.models import Company

    actor = system_actor()
    now_local = timezone.localtime(timezone.now() - timedelta(minutes=5), Company.objects.first().zone)
    msp = create_policy(actor=actor, name="MSP patching")
    services.set_patching(actor=actor, policy=msp, deny_list=["KB5000007", "apt-package-1*"])
    services.add_patch_window(actor=actor, policy=msp, frequency="daily", starts_at=now_local.time(),
                              duration_minutes=120)
    assign_policy(actor=actor, policy=msp, level=Level.MSP)
    servers = create_policy(actor=actor, name="Servers by hand")
    services.set_patching(actor=actor, policy=servers, rules=[{"category": "*", "action": "manual"}],
                          reboot_mode="never")
    group = create_dynamic_group(actor=actor, name="linux servers", rules=[{"field": "os", "op": "eq",
                                                                            "value": "linux"}])
    assign_policy(actor=actor, policy=servers, level=Level.DYNAMIC_GROUP, target=group)
    for company in Company.objects.order_by("pk")[:5]:
        own = create_policy(actor=actor, name=f"{company.name} patching", company=company)
        services.set_patching(actor=actor, policy=own, rules=[{"category": "security", "action": "approve"},
                                                              {"category": "*", "action": "approve",
                                                               "defer_days": 14}])
        assign_policy(actor=actor, policy=own, level=Level.COMPANY, target=company)
        services.decide_updates(actor=actor, company=company, decision="approved",
                                updates=list(PatchUpdate.objects.filter(category="driver")[:20]))


def _timed(runs: int, work: Callable[[], object]) -> tuple[float, float]:
    work()
    latencies = []
    for _ in range(runs):
        started = time.perf_counter()
        work()
        latencies.append((time.perf_counter() - started) * 1000)
    latencies.sort()
    return statistics.median(latencies), latencies[max(0, int(len(latencies) * 0.95) - 1)]


def _once(label: str, work: Callable[[], object]) -> object:
    started = time.perf_counter()
    result = work()
    print(f"{label}: {time.perf_counter() - started:.2f} s")
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--devices", type=int, default=15_000)
    parser.add_argument("--per-device", type=int, default=200, help="pending updates per device")
    parser.add_argument("--runs", type=int, default=10, help="repetitions of each timed page")
    args = parser.parse_args()
    set_up_django()
    from django.conf import settings
    from django.db import connection
    from django.test import Client

    from portal.accounts.models import User
    from portal.patching.evaluation import evaluate
    from portal.patching.rollout import open_patch_windows
    from portal.patching.status import refresh_patch_status

    started = time.perf_counter()
    _seed(args.devices, args.per_device)
    pairs = args.devices * args.per_device
    print(f"seeded {args.devices} devices x {args.per_device} pending updates ({pairs:,} pairs) in "
          f"{time.perf_counter() - started:.0f} s ({connection.vendor})")
    _policies()

    def judge_all() -> int:
        return sum(len(device.verdicts) for device in evaluate())

    judged = _once(f"approval evaluation of every pair, {connection.vendor} (goal < 5 s)", judge_all)
    assert judged == pairs, judged
    _once(f"status job, first run (summaries, queues, catalogue counts), {connection.vendor}",
          refresh_patch_status)
    _once(f"status job, nothing changed, {connection.vendor}", refresh_patch_status)
    settings.ALLOWED_HOSTS = ["*"]
    for username in ("msp", "scoped"):
        client = Client()
        client.force_login(User.objects.get(username=username))
        reader = "all companies" if username == "msp" else "one company"
        for label, url in (("compliance page (goal < 200 ms)", "/patches/compliance/"),
                           ("catalogue page", "/patches/"), ("approval queue page", "/patches/approvals/")):
            def page(url: str = url, client: Client = client) -> None:
                response = client.get(url)
                assert response.status_code == 200, response.status_code

            median, p95 = _timed(args.runs, page)
            print(f"{label}, {reader}, {args.devices} devices, {connection.vendor}: median {median:.0f} ms, "
                  f"p95 {p95:.0f} ms ({args.runs} runs)")
    queued = _once(f"patch window opening for every device at once (install actions queued), {connection.vendor}",
                   open_patch_windows)
    print(f"  {queued} install actions queued")


if __name__ == "__main__":
    main()
