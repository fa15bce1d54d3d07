"""The agent socket's connect path writes nothing of its own: a token's last use goes out with the next
heartbeat batch, and a handshake that waited past the agent's patience is answered without the database."""

from __future__ import annotations

import asyncio
import time

import pytest

from portal.inventory.enrollment import authenticate_agent, issue_agent_token
from portal.inventory.models import AgentCredential
from portal.inventory.telemetry import HeartbeatBuffer
from realtime.agent_consumer import STALE, STALE_HANDSHAKE_SECONDS, _authenticate

pytestmark = pytest.mark.django_db(transaction=True)


def test_a_tokens_last_use_is_written_with_the_next_batch(tenant_a, django_assert_num_queries):
    raw = issue_agent_token(device=tenant_a.device)
    buffer = HeartbeatBuffer()
    with django_assert_num_queries(1):  # the token's lookup, nothing written
        device = authenticate_agent(raw=raw, touch=buffer.touch_credential)
    assert device.pk == tenant_a.device.pk
    credential = AgentCredential.objects.get(device=tenant_a.device)
    assert credential.last_used_at is None and len(buffer) == 1
    buffer.flush()
    credential.refresh_from_db()
    assert credential.last_used_at is not None and len(buffer) == 0


def test_a_handshake_that_waited_too_long_is_not_checked(tenant_a, django_assert_num_queries):
    raw = issue_agent_token(device=tenant_a.device)
    with django_assert_num_queries(0):
        assert asyncio.run(_authenticate(raw, time.monotonic() - STALE_HANDSHAKE_SECONDS - 1)) == STALE
    assert asyncio.run(_authenticate(raw, time.monotonic()))[0] == tenant_a.device.pk


def test_a_handshake_cancelled_while_joining_its_group_lets_the_command_finish_and_leaves_again():
    """Cancelling a Redis command mid-reply drops the connection; the join finishes, then is taken back."""
    from realtime.agent_consumer import AgentConsumer

    class SlowLayer:
        def __init__(self) -> None:
            self.calls: list[str] = []

        async def group_add(self, group: str, channel: str) -> None:
            await asyncio.sleep(0.1)
            self.calls.append(f"add {group}")

        async def group_discard(self, group: str, channel: str) -> None:
            self.calls.append(f"discard {group}")

    async def scenario() -> list[str]:
        consumer = AgentConsumer()
        consumer.channel_layer, consumer.channel_name, consumer.device_id = SlowLayer(), "agent-channel", 7
        joining = asyncio.create_task(consumer._join_agent_group())
        await asyncio.sleep(0.02)
        joining.cancel()
        with pytest.raises(asyncio.CancelledError):
            await joining
        await asyncio.sleep(0.3)
        return consumer.channel_layer.calls

    assert asyncio.run(scenario()) == ["add agent.7", "discard agent.7"]
