"""Benchmark: from an agent's socket closing (or opening) to its device row changing in a real browser.

``manage.py run_fleet`` (one daphne per core) serves 10,000 devices; Debian's Chromium (Playwright) shows
the device list filtered to one device; a simulated agent for that device connects and disconnects. A
MutationObserver in the page stamps the moment the row's status text changes. Prints p50/p95 for offline
and online. The swarm bench (``agent_swarm --watch-rounds N``) takes the same measurement while its whole
fleet heartbeats. Usage: ``python -m tests.bench.live_latency [--devices N] [--rounds N]``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import time

from tests.bench.agent_swarm import Fleet
from tests.bench.environment import set_up_django

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]
PASSWORD = "bench-password-not-secret"
WATCH = """([selector, text]) => new Promise((resolve) => {
  const seen = () => { const row = document.querySelector(selector);
                       return row !== null && row.textContent.includes(text); };
  if (seen()) { resolve(Date.now()); return; }
  const observer = new MutationObserver(() => { if (seen()) { observer.disconnect(); resolve(Date.now()); } });
  observer.observe(document.body, {subtree: true, childList: true, characterData: true});
})"""


def _seed(device_count: int) -> tuple[int, str, str]:
    from django.core.management import call_command

    from portal.inventory.models import Device
    from portal.tenancy.models import Company, Site

    call_command("migrate", verbosity=0)
    call_command("flush", interactive=False, verbosity=0)
    companies = Company.objects.bulk_create([Company(name=f"Client {n:03d}") for n in range(50)])
    sites = Site.objects.bulk_create([Site(company=c, name="HQ") for c in companies])
    Device.objects.bulk_create([Device(company_id=sites[n % 50].company_id, site=sites[n % 50],
                                       hostname=f"host-{n:05d}", os_type="linux", status="online")
                                for n in range(device_count)], batch_size=1000)
    return watched_device(sites[0])


def watched_device(site) -> tuple[int, str, str]:
    """The device whose row the browser watches (offline, with an agent token), and a user to watch it."""
    from portal.accounts.models import User
    from portal.accounts.tokens import digest_secret, format_token, new_token_parts
    from portal.inventory.models import AgentCredential, Device

    watched = Device.objects.create(company_id=site.company_id, site=site, hostname="watched-device",
                                    os_type="linux", status="offline")
    parts = new_token_parts()
    AgentCredential.objects.create(device=watched, key_id=parts.key_id, secret_digest=digest_secret(parts.secret))
    User.objects.filter(username="bench").delete()
    User.objects.create_user(username="bench", password=PASSWORD, role="operator", all_companies=True)
    return watched.pk, watched.hostname, format_token(parts, prefix="fwa")


async def rounds_in_browser(*, port: int, device_id: int, hostname: str, token: str,
                            rounds: int) -> dict[str, list[float]]:
    """Milliseconds from the watched device's agent connecting (disconnecting) to its row saying so."""
    import websockets
    from playwright.async_api import async_playwright

    base = f"http://127.0.0.1:{port}"
    selector = f"#device-row-{device_id}"
    latencies: dict[str, list[float]] = {"online": [], "offline": []}
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = await browser.new_page()
        await page.goto(f"{base}/login/")
        await page.get_by_label("Username").fill("bench")
        await page.get_by_label("Password").fill(PASSWORD)
        await page.get_by_role("button", name="Sign in").click()
        await page.wait_for_url(f"{base}/")
        await page.goto(f"{base}/devices/?q={hostname}")
        await page.wait_for_timeout(1000)  # the live socket is open
        for _ in range(rounds):
            watcher = asyncio.create_task(page.evaluate(WATCH, [selector, "Online"]))
            started = time.time() * 1000
            socket = await websockets.connect(f"ws://127.0.0.1:{port}/ws/agent/",
                                              additional_headers={"Authorization": f"Bearer {token}"})
            await socket.send(json.dumps({"type": "hello", "agent_version": "bench"}))
            await socket.recv()
            latencies["online"].append(await watcher - started)
            watcher = asyncio.create_task(page.evaluate(WATCH, [selector, "Offline"]))
            await asyncio.sleep(0.3)
            started = time.time() * 1000
            await socket.close()
            latencies["offline"].append(await watcher - started)
            await asyncio.sleep(0.3)
        await browser.close()
    return latencies


def _percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * fraction))]


def summary(latencies: dict[str, list[float]]) -> str:
    return "; ".join(f"agent {'disconnects' if change == 'offline' else 'connects'} → row shows {change.title()}: "
                     f"p50 {statistics.median(values):.0f} ms, p95 {_percentile(values, 0.95):.0f} ms"
                     for change, values in latencies.items())


def main() -> None:
    from realtime.server import web_process_count

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--devices", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--web-processes", type=int, default=web_process_count(),
                        help="daphne processes run_fleet starts (default: one per core)")
    args = parser.parse_args()
    set_up_django()
    from django.db import connection

    from tests.live import free_port

    device_id, hostname, token = _seed(args.devices)
    connection.close()
    print(f"event to screen: {args.devices} devices, {connection.vendor}, "
          f"{'Redis' if 'redis' in os.environ.get('REDIS_URL', '') else 'embedded'} layer, {args.rounds} rounds")
    fleet = Fleet(free_port(), 30, args.web_processes)
    fleet.start()
    try:
        latencies = asyncio.run(rounds_in_browser(port=fleet.port, device_id=device_id, hostname=hostname,
                                                  token=token, rounds=args.rounds))
    finally:
        fleet.stop()
    print(f"  {summary(latencies)}")


if __name__ == "__main__":
    main()
