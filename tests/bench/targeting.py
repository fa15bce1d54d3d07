"""Benchmark: the effective policy of every device (20 policies of 3 checks each, assigned at every level), and
counting a dynamic group's devices over an MSP-sized fleet (default 15,000 devices in 50 companies,
each with ~3 of 20 tags, a numeric custom value, 10 installed packages; a fifth with pending patches), by rule
kind, as an all-company technician and as one scoped to a single company; and the device list filtered by a group.

Prints median and p95 of each. Runs against a throw-away database (a fresh SQLite file, or the PostgreSQL
database of ``DATABASE_URL``, emptied first). Usage: ``python -m tests.bench.targeting [--devices N] [--runs N]``.
"""

from __future__ import annotations

import argparse
import random
import statistics
import time
from collections.abc import Callable
from datetime import timedelta

from tests.bench.environment import set_up_django

PACKAGES = ["firefox", "chrome", "7zip", "vlc", "openssl", "curl", "python3", "git", "zoom", "teams", "office",
            "acrobat", "putty", "notepad++", "vscode", "docker", "nginx", "postgresql", "redis", "java"]


def _seed(device_count: int) -> dict:
    from django.core.management import call_command
    from django.utils import timezone

    from portal.access import Role, system_actor
    from portal.accounts.models import User
    from portal.custom_fields.services import create_custom_field
    from portal.inventory.models import Device, InstalledSoftware, PatchUpdate, PendingPatch
    from portal.tags.models import Tag
    from portal.tenancy.models import Company, Group, Site

    call_command("migrate", verbosity=0)
    call_command("flush", interactive=False, verbosity=0)
    randomness = random.Random(20261204)
    companies = Company.objects.bulk_create([Company(name=f"Client {n:03d}") for n in range(50)])
    sites = Site.objects.bulk_create([Site(company=c, name=f"Site {n}") for c in companies for n in range(4)])
    groups = Group.objects.bulk_create([Group(site=s, name=f"Group {n}") for s in sites for n in range(2)])
    tags = Tag.objects.bulk_create([Tag(name=f"tag-{n:02d}") for n in range(20)])
    create_custom_field(actor=system_actor(), target="device", name="backup_age", label="Backup age", kind="number")
    now = timezone.now()
    devices = []
    for n in range(device_count):
        group = groups[n % len(groups)]
        devices.append(Device(
            company_id=group.site.company_id, site=group.site, group=group, hostname=f"host-{n:05d}",
            os_type=randomness.choice(["linux", "windows", "windows", "macos"]),
            status=randomness.choice(["online", "online", "offline"]),
            last_seen=now - timedelta(hours=randomness.randint(0, 96)),
            custom_fields={"backup_age": randomness.randint(0, 14)}))
    Device.objects.bulk_create(devices, batch_size=1000)
    through = Device.tags.through
    through.objects.bulk_create([through(device_id=device.pk, tag_id=tag.pk) for device in devices
                                 for tag in randomness.sample(tags, 3)], batch_size=5000)
    InstalledSoftware.objects.bulk_create(
        [InstalledSoftware(device=device, name=name, version=f"{randomness.randint(1, 9)}.0", source="dpkg")
         for device in devices for name in randomness.sample(PACKAGES, 10)], batch_size=5000)
    openssl = PatchUpdate.objects.create(source="apt", identifier="openssl", version="3.0.15", title="OpenSSL update")
    PendingPatch.objects.bulk_create([PendingPatch(device=device, update=openssl)
                                      for device in devices if randomness.random() < 0.2], batch_size=5000)
    User.objects.create_user(username="msp", role=Role.OPERATOR, all_companies=True)
    scoped = User.objects.create_user(username="scoped", role=Role.OPERATOR)
    scoped.companies.add(companies[0])
    return {"tag": tags[0].pk}


def _timed(runs: int, work: Callable[[], object]) -> tuple[float, float, object]:
    work()
    latencies, result = [], None
    for _ in range(runs):
        started = time.perf_counter()
        result = work()
        latencies.append((time.perf_counter() - started) * 1000)
    latencies.sort()
    return statistics.median(latencies), latencies[max(0, int(len(latencies) * 0.95) - 1)], result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--devices", type=int, default=15_000)
    parser.add_argument("--runs", type=int, default=20)
    args = parser.parse_args()
    set_up_django()
    from django.conf import settings
    from django.db import connection
    from django.test import Client

    from portal.access import actor_for_user, system_actor
    from portal.accounts.models import User
    from portal.dynamic_groups.selectors import members_of
    from portal.dynamic_groups.services import create_dynamic_group

    started = time.perf_counter()
    seeded = _seed(args.devices)
    print(f"seeded {args.devices} devices in {time.perf_counter() - started:.0f} s ({connection.vendor})")
    groups = {
        "os = linux": [{"field": "os", "op": "eq", "value": "linux"}],
        "has a tag": [{"field": "tag", "op": "has", "value": seeded["tag"]}],
        "custom backup_age > 7": [{"field": "custom.backup_age", "op": "gt", "value": 7}],
        "software firefox installed": [{"field": "software", "op": "installed", "value": "firefox"}],
        "pending patches": [{"field": "patches", "op": "any"}],
        "linux + tag + backup_age > 7 + seen in 24 h": [
            {"field": "os", "op": "eq", "value": "linux"}, {"field": "tag", "op": "has", "value": seeded["tag"]},
            {"field": "custom.backup_age", "op": "gt", "value": 7},
            {"field": "last_seen", "op": "within_hours", "value": 24}],
    }
    readers = {"all companies": actor_for_user(User.objects.get(username="msp")),
               "one company": actor_for_user(User.objects.get(username="scoped"))}
    for label, rules in groups.items():
        group = create_dynamic_group(actor=system_actor(), name=label, rules=rules)
        for reader, actor in readers.items():
            median, p95, count = _timed(args.runs, lambda g=group, a=actor: members_of(actor=a, group=g).count())
            print(f"dynamic group '{label}', {reader}, {args.devices} devices, {connection.vendor}: {count} "
                  f"members counted in median {median:.1f} ms, p95 {p95:.1f} ms ({args.runs} runs)")
    settings.ALLOWED_HOSTS = ["*"]
    _effective_policies(args.runs, args.devices, seeded["tag"])
    client = Client()
    client.force_login(User.objects.get(username="msp"))
    group_id = create_dynamic_group(actor=system_actor(), name="list view", rules=groups["has a tag"]).pk
    def listed() -> int:
        response = client.get("/devices/", {"dynamic": group_id})
        assert response.status_code == 200, response.status_code
        return response.status_code

    median, p95, _ = _timed(args.runs, listed)
    print(f"device list filtered by a dynamic group (page 1, with the groups' counts in its picker), "
          f"{args.devices} devices, {connection.vendor}: median {median:.1f} ms, p95 {p95:.1f} ms")


def _effective_policies(runs: int, device_count: int, tag_id: int) -> None:
    """20 policies (2 for the whole MSP, 6 on companies, 4 on sites, 4 on groups, 2 on dynamic groups, 2 on
    devices), 3 checks each: the checks watching every device, as each minute's evaluation computes them."""
    from django.db import connection

    from monitoring.models import Check, CheckKind
    from monitoring.policy_checks import watched_objects
    from monitoring.services import create_check
    from portal.access import system_actor
    from portal.dynamic_groups.services import create_dynamic_group
    from portal.inventory.models import Device
    from portal.policies.models import Level
    from portal.policies.selectors import policies_by_device
    from portal.policies.services import assign_policy, create_policy
    from portal.tenancy.models import Company, Group, Site

    actor = system_actor()
    Check.objects.all().delete()
    companies, sites = list(Company.objects.all()[:6]), list(Site.objects.all()[:4])
    groups, devices = list(Group.objects.all()[:4]), list(Device.objects.all()[:2])
    dynamic = [create_dynamic_group(actor=actor, name=f"policy group {n}", rules=rules) for n, rules in enumerate((
        [{"field": "os", "op": "eq", "value": "linux"}], [{"field": "tag", "op": "has", "value": tag_id}]))]
    targets = [(Level.MSP, None)] * 2 + [(Level.COMPANY, c) for c in companies] + [(Level.SITE, s) for s in sites] \
        + [(Level.GROUP, g) for g in groups] + [(Level.DYNAMIC_GROUP, d) for d in dynamic] \
        + [(Level.DEVICE, d) for d in devices]
    kinds = [CheckKind.AGENT_CPU, CheckKind.AGENT_MEMORY, CheckKind.AGENT_OFFLINE, CheckKind.AGENT_DISK_FREE]
    for number, (level, target) in enumerate(targets):
        policy = create_policy(actor=actor, name=f"bench policy {number}")
        for offset in range(3):
            create_check(actor=actor, policy=policy, name=f"p{number} check {offset}",
                         kind=kinds[(number + offset) % 4], warning_threshold=50 + number)
        assign_policy(actor=actor, policy=policy, level=level, target=target, order=number)
    median, p95, by_device = _timed(runs, lambda: policies_by_device())
    print(f"policies reaching each device, {len(by_device)} devices x {len(targets)} policies, {connection.vendor}: "
          f"median {median:.0f} ms, p95 {p95:.0f} ms ({runs} runs)")
    median, p95, watched = _timed(runs, watched_objects)
    pairs = sum(len(ids) for ids in watched.values())
    print(f"effective checks of every device (precedence applied), {device_count} devices x {len(targets)} policies "
          f"x 3 checks, {connection.vendor}: {pairs} check-device pairs in median {median:.0f} ms, p95 {p95:.0f} ms "
          f"({runs} runs)")


if __name__ == "__main__":
    main()
