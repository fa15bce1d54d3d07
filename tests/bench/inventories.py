"""Realistic inventories for simulated agents: the real agent's ``collect`` output, recorded once on a
Debian server (880 packages, 120 pending updates) plus 150 services (the recording machine ran without
systemd), varied per agent: its own host name, serial and address, 5 % of packages at other versions and
some services stopped. About 82 KB per agent, like the real agent's."""

from __future__ import annotations

import hashlib
import json
import random
import re
from functools import cache
from pathlib import Path
from typing import Any

RECORDED = Path(__file__).resolve().parent / "data" / "recorded_inventory.json"
SERVICE_COUNT = 150
VARIED_PACKAGES = 44  # 5 % of the recorded packages
PLACEHOLDER = re.compile(r"@(\w+)@")


@cache
def _template() -> tuple[str, int, int]:
    """The inventory frame as text with placeholders, the package count and the update count.

    Agents vary it by string replacement: building and serialising 85 KB per agent in the process that
    simulates thousands of them would measure the client, not the server."""
    snapshot: dict[str, Any] = json.loads(RECORDED.read_text())
    snapshot["system"].update(hostname="@HOST@", serial_number="@SERIAL@")
    snapshot["interfaces"][-1]["ipv4"] = ["@ADDRESS@"]
    for number, package in enumerate(snapshot["software"][:VARIED_PACKAGES]):
        package["version"] += f"@V{number}@"
    snapshot["services"] = [{"name": f"service-{n:03d}", "display_name": f"Service {n}", "status": f"@S{n}@",
                             "start_mode": "auto"} for n in range(SERVICE_COUNT)]
    frame = json.dumps({"type": "inventory", "hash": "@HASH@", "data": snapshot}, separators=(",", ":"))
    return frame, len(snapshot["software"]), len(snapshot["pending_updates"])


def inventory_frame(number: int) -> tuple[str, str]:
    """Agent ``number``'s inventory frame (text, as sent) and its content hash."""
    frame, _, _ = _template()
    rng = random.Random(number)
    values = {"HOST": f"agent-{number:05d}", "SERIAL": f"SN{number:08d}",
              "ADDRESS": f"10.{number // 65536 % 256}.{number // 256 % 256}.{number % 256}"}
    values |= {f"V{n}": f"+fleet{rng.randint(0, 3)}" for n in range(VARIED_PACKAGES)}
    values |= {f"S{n}": "running" if rng.random() > 0.1 else "stopped" for n in range(SERVICE_COUNT)}
    values["HASH"] = "@HASH@"
    frame = PLACEHOLDER.sub(lambda match: values[match[1]], frame)
    content_hash = hashlib.sha256(frame.encode()).hexdigest()
    return content_hash, frame.replace("@HASH@", content_hash)
