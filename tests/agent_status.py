"""Change a device's online state the way the agent channel does (its socket says hello, or closes)."""

from __future__ import annotations

from portal.inventory.models import Device
from portal.inventory.telemetry import mark_agent_connected, mark_agent_disconnected

TEST_CONNECTION = "test-connection"


def set_status(device_id: int, status: str) -> None:
    if status == "online":
        mark_agent_connected(device_id=device_id, connection_id=TEST_CONNECTION)
        return
    Device.objects.filter(pk=device_id).update(agent_connection=TEST_CONNECTION)
    mark_agent_disconnected(device_id=device_id, connection_id=TEST_CONNECTION)
