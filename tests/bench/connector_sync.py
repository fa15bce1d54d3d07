"""Benchmark: a full connector sync of 5,000 devices in 50 sites from the loopback stand-ins (Datto RMM and
Pulseway), then a second sync with nothing changed.

Prints the duration, the requests made and the rows written for each. Pulseway v3's device list has no
online state or addresses, so it takes one detail request per device; Datto's device pages carry them.
The Datto budget (600 requests a minute) is kept but never reached here. Usage:
``python -m tests.bench.connector_sync [--devices N] [--sites N]``.
"""

from __future__ import annotations

import argparse
import time

from tests.bench.environment import set_up_django


def _measure(label: str, connector, client_for) -> None:
    from connectors.sync import run_sync

    for attempt in ("first", "unchanged"):
        client = client_for(connector)
        started = time.perf_counter()
        run = run_sync(connector=connector, client=client)
        seconds = time.perf_counter() - started
        print(f"  {label} {attempt:9s}: {seconds:6.1f} s, {run.requests} requests, {run.created} created, "
              f"{run.updated} updated, {run.unchanged} unchanged, status {run.status}"
              + (f" ({run.error})" if run.error else ""))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--devices", type=int, default=5000)
    parser.add_argument("--sites", type=int, default=50)
    args = parser.parse_args()
    set_up_django()
    from django.core.management import call_command
    from django.db import connection

    from connectors import datto, pulseway
    from connectors.models import Connector
    from tests.connectors import datto_standin, pulseway_standin

    call_command("migrate", verbosity=0)
    call_command("flush", interactive=False, verbosity=0)
    per_site = args.devices // args.sites
    print(f"connector sync: {per_site * args.sites} devices in {args.sites} sites, {connection.vendor}")

    datto_api = datto_standin.DattoStandIn(datto_standin.sample_data(sites=args.sites, devices_each=per_site))
    datto_api.start()
    try:
        connector = Connector.objects.create(name="Datto bench", kind="datto", base_url=datto_api.origin,
                                             token_id=datto_standin.API_KEY, token_secret=datto_standin.API_SECRET)
        _measure("Datto RMM", connector, datto.client_for)
    finally:
        datto_api.stop()

    call_command("flush", interactive=False, verbosity=0)
    data = pulseway_standin.sample_data(organizations=args.sites, sites_each=1, devices_each=per_site)
    pulseway_api = pulseway_standin.PulsewayStandIn(data)
    pulseway_api.start()
    try:
        connector = Connector.objects.create(name="Pulseway bench", base_url=pulseway_api.url,
                                             token_id=pulseway_standin.TOKEN_ID,
                                             token_secret=pulseway_standin.TOKEN_SECRET)
        _measure("Pulseway ", connector, pulseway.client_for)
    finally:
        pulseway_api.stop()


if __name__ == "__main__":
    main()
