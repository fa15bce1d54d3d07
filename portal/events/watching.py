"""Which devices have their page open somewhere, so a heartbeat is pushed only where someone looks.

Heartbeats arrive for every device of the fleet every few seconds; sending each to every dashboard would
cost far more than it shows. An open device page marks its device as watched in the shared cache (so
the process receiving the agent's heartbeat sees it, whichever process serves the page) and renews the
mark while it stays open; the mark lapses on its own when the page goes away.
"""

from __future__ import annotations

from collections.abc import Iterable

from django.core.cache import cache

WATCH_SECONDS = 90
RENEW_SECONDS = 30


def _key(device_id: int) -> str:
    return f"fleetwatch:watching:device:{int(device_id)}"


def mark_watched(*, device_id: int) -> None:
    cache.set(_key(device_id), 1, WATCH_SECONDS)


def watched_among(device_ids: Iterable[int]) -> set[int]:
    """The devices of ``device_ids`` with a page open (one cache round trip)."""
    keys = {_key(pk): pk for pk in device_ids}
    return {keys[key] for key in cache.get_many(list(keys))} if keys else set()
