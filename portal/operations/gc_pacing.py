"""A web process's young garbage collections, paced by the clock as well as by allocations.

Python starts a young collection when allocations outnumber deallocations by the first threshold (50,000
here, see portal/asgi.py), and the middle one after every few young collections. A process answering thousands of
agent sockets frees about as many objects as it makes, so that count lags what the young generation holds
(measured at 15,000 agents: 80,000-320,000 objects when the count reached 50,000), and the middle generation
gathered the survivors of ten seconds or more of a connect storm: 200,000-400,000 objects, collections of
200-400 ms on a core that stopped every socket of the process (the tail of the heartbeat acks).

Collecting the young generation every second keeps each collection to what that second left behind, and the
middle one (every fourth of them, once three young ones are counted against Python's second threshold) to
four seconds' survivors: in the same storm its collections took 60-190 ms on a core. The oldest generation is
still collected by Python's own rule, which counts these collections as it counts its own.
"""

from __future__ import annotations

import asyncio
import gc

PACE_SECONDS = 1.0
_pacer: asyncio.Task | None = None


def collect_young_generations() -> int:
    """One paced collection: the young generation, with the middle one when it is due. Returns what it
    collected (nothing when collection is disabled)."""
    if not gc.isenabled():
        return 0
    middle_due = gc.get_count()[1] >= gc.get_threshold()[1]
    return gc.collect(1 if middle_due else 0)


async def _pace_forever() -> None:
    while True:
        await asyncio.sleep(PACE_SECONDS)
        collect_young_generations()


def pace_young_collections() -> None:
    """Start this web process's paced collections once, on the loop that serves it."""
    global _pacer
    loop = asyncio.get_running_loop()
    if _pacer is None or _pacer.done() or _pacer.get_loop() is not loop:
        _pacer = loop.create_task(_pace_forever(), name="fleetwatch-gc-pacer")
