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


def test_many_handshakes_tokens_are_checked_in_one_query(tenant_a, tenant_b, django_assert_num_queries):
    from portal.access import system_actor
    from portal.inventory.enrollment import authenticate_agents, revoke_agent_tokens

    good = issue_agent_token(device=tenant_a.device)
    other = issue_agent_token(device=tenant_b.device)
    wrong_secret = good[:-4] + ("aaaa" if not good.endswith("aaaa") else "bbbb")
    used: list[int] = []
    with django_assert_num_queries(1):
        identities = authenticate_agents(raws=[good, other, wrong_secret, "fwa_garbage", "nonsense"], touch=used.append)
    assert {raw: identity.device_id for raw, identity in identities.items()} == {
        good: tenant_a.device.pk, other: tenant_b.device.pk}
    assert identities[good].heartbeat_interval == tenant_a.device.heartbeat_interval
    assert len(used) == 2  # both last uses go out with the next heartbeat batch
    revoke_agent_tokens(actor=system_actor(), device=tenant_b.device)
    assert set(authenticate_agents(raws=[good, other], touch=used.append)) == {good}


def test_a_storm_of_handshakes_shares_token_lookups(tenant_a, monkeypatch):
    """Handshakes queued while a lookup runs are looked up together in the next one."""
    from realtime import token_checker
    from realtime.token_checker import TokenChecker

    raw = issue_agent_token(device=tenant_a.device)
    batches: list[int] = []
    real = token_checker.authenticate_agents

    def counting(*, raws, touch):
        batches.append(len(raws))
        time.sleep(0.05)
        return real(raws=raws, touch=touch)

    monkeypatch.setattr(token_checker, "authenticate_agents", counting)

    async def storm() -> list:
        checker = TokenChecker(touch=lambda _: None, stale_after_seconds=15)
        now = time.monotonic()
        outcomes = [checker.check(raw if n % 2 == 0 else "fwa_refused_x", now) for n in range(50)]
        stale = checker.check(raw, now - 60)
        results = await asyncio.gather(*outcomes)
        with pytest.raises(TimeoutError):
            await stale
        return results

    results = asyncio.run(storm())
    assert [result.device_id if result else None for result in results] == [
        tenant_a.device.pk if n % 2 == 0 else None for n in range(50)]
    assert sum(batches) == 50 and len(batches) <= 2
