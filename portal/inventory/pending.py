"""Inventories waiting to be written: applied in batches, apart from the work that answers agents."""

from __future__ import annotations

import enum
import json
import logging
import zlib
from dataclasses import dataclass
from typing import Any

from django.core.exceptions import ObjectDoesNotExist
from django.db import close_old_connections

from portal.inventory.telemetry import apply_inventory

logger = logging.getLogger(__name__)


class Stored(enum.Enum):
    CHANGED = "changed"
    UNCHANGED = "unchanged"
    DEVICE_GONE = "device_gone"  # deleted while its agent was connected
    FAILED = "failed"  # logged; the agent sends it again, since the server's hash did not move
    REPLACED = "replaced"  # a newer inventory of the same device came first: never written


@dataclass(frozen=True)
class PendingInventory:
    """An inventory waiting for its turn. One that came over the socket waits as its frame's text,
    compressed: parsed, a ~80 KB inventory is ~430 KB of Python objects, and during a fleet's first
    connect thousands wait at once (15,000 agents took 7.5 GB of server memory)."""

    device_id: int
    content_hash: str
    data: dict[str, Any] | None = None
    packed_frame: bytes = b""

    @classmethod
    def from_frame(cls, *, device_id: int, content_hash: str, frame_text: str) -> PendingInventory:
        """From an inventory frame already checked by the protocol (its ``data`` is read back when written)."""
        return cls(device_id=device_id, content_hash=content_hash,
                   packed_frame=zlib.compress(frame_text.encode(), 1))

    def inventory(self) -> dict[str, Any]:
        if self.data is not None:
            return self.data
        return json.loads(zlib.decompress(self.packed_frame))["data"]


def apply_inventories(batch: list[PendingInventory]) -> dict[int, Stored]:
    """Apply a batch, each inventory in a short transaction of its own (apply_inventory compares outside
    it), so one that fails leaves the others stored and the write lock is never held for a whole batch."""
    close_old_connections()
    outcomes: dict[int, Stored] = {}
    try:
        for pending in batch:
            try:
                changed = apply_inventory(device_id=pending.device_id, content_hash=pending.content_hash,
                                          data=pending.inventory())
                outcomes[pending.device_id] = Stored.CHANGED if changed else Stored.UNCHANGED
            except ObjectDoesNotExist:
                outcomes[pending.device_id] = Stored.DEVICE_GONE
            except Exception:
                logger.exception("could not store the inventory of device %s", pending.device_id)
                outcomes[pending.device_id] = Stored.FAILED
    finally:
        close_old_connections()
    return outcomes
