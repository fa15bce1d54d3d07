"""Inventories waiting to be written: applied in batches, apart from the work that answers agents."""

from __future__ import annotations

import enum
import logging
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
    device_id: int
    content_hash: str
    data: dict[str, Any]


def apply_inventories(batch: list[PendingInventory]) -> dict[int, Stored]:
    """Apply a batch, each inventory in a short transaction of its own (apply_inventory compares outside
    it), so one that fails leaves the others stored and the write lock is never held for a whole batch."""
    close_old_connections()
    outcomes: dict[int, Stored] = {}
    try:
        for pending in batch:
            try:
                changed = apply_inventory(device_id=pending.device_id, content_hash=pending.content_hash,
                                          data=pending.data)
                outcomes[pending.device_id] = Stored.CHANGED if changed else Stored.UNCHANGED
            except ObjectDoesNotExist:
                outcomes[pending.device_id] = Stored.DEVICE_GONE
            except Exception:
                logger.exception("could not store the inventory of device %s", pending.device_id)
                outcomes[pending.device_id] = Stored.FAILED
    finally:
        close_old_connections()
    return outcomes
