"""Realistic inventories for simulated agents: the real agent's ``collect`` output, recorded once on a
Debian server (880 packages, 120 pending updates), varied per agent so no two fleets look alike."""

from __future__ import annotations

import copy
import json
import random
from functools import cache
from pathlib import Path
from typing import Any

RECORDED = Path(__file__).resolve().parent / "data" / "recorded_inventory.json"
SERVICE_COUNT = 150  # a typical server; the recording machine ran without systemd


@cache
def _recorded() -> dict[str, Any]:
    return json.loads(RECORDED.read_text())


def inventory_for(number: int) -> tuple[str, dict[str, Any]]:
    """Agent ``number``'s inventory and its hash (computed as the real agent does)."""
    from fleetwatch_agent.collect import inventory_hash

    rng = random.Random(number)
    snapshot = copy.deepcopy(_recorded())
    snapshot["system"]["hostname"] = f"agent-{number:05d}"
    snapshot["system"]["serial_number"] = f"SN{number:08d}"
    snapshot["interfaces"][-1]["ipv4"] = [f"10.{number // 65536 % 256}.{number // 256 % 256}.{number % 256}"]
    for package in rng.sample(snapshot["software"], k=len(snapshot["software"]) // 20):
        package["version"] += f"+fleet{rng.randint(1, 9)}"
    snapshot["software"] = [p for p in snapshot["software"] if rng.random() > 0.02]
    snapshot["pending_updates"] = [u for u in snapshot["pending_updates"] if rng.random() > 0.3]
    snapshot["services"] = [{"name": f"service-{n:03d}", "display_name": f"Service {n}",
                             "status": "running" if rng.random() > 0.1 else "stopped",
                             "start_mode": "auto" if rng.random() > 0.3 else "manual"}
                            for n in range(SERVICE_COUNT)]
    return inventory_hash(snapshot), snapshot
