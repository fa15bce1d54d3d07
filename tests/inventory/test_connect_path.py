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
