"""After a restart a large fleet comes back at a pace the server takes: each welcome says over how many seconds
an agent spreads its reconnects (agents enrolled / FLEETWATCH_RECONNECTS_PER_SECOND), and the agent's
backoff never draws under that window while it stands."""

from __future__ import annotations

import asyncio
import json

import pytest
import websockets
from django.utils import timezone
from fleetwatch_agent.transport import MAX_RECONNECT_SPREAD, Backoff

from portal.access import system_actor
from portal.inventory.enrollment import create_enrollment_token, enroll_agent
from portal.inventory.models import AgentCredential
from tests.live import LiveServer


def _first_tries(backoff: Backoff, count: int) -> list[float]:
    """The first wait after a session ends, drawn ``count`` times."""
    draws = []
    for _ in range(count):
        backoff.reset()
        draws.append(backoff.next_delay())
    return draws


def test_the_backoff_spreads_over_the_servers_window_and_takes_only_a_sane_one():
    backoff = Backoff(1.0, 60.0)
    assert max(_first_tries(backoff, 200)) <= 1.0  # without advice: a second, as before
    backoff.advised(40)
    draws = _first_tries(backoff, 500)
    assert all(0.5 <= draw <= 40 for draw in draws)
    assert sum(draw > 20 for draw in draws) > 100  # spread over the window, not bunched at its start
    for nonsense in ("40", -1, float("nan"), float("inf"), True, None, [3]):
        backoff.advised(nonsense)
        assert backoff.spread == 40
    backoff.advised(10**9)
    assert backoff.spread == MAX_RECONNECT_SPREAD
    backoff.advised(0)
    assert max(_first_tries(backoff, 100)) <= 1.0  # a small fleet reconnects at once


@pytest.mark.django_db(transaction=True)
def test_the_welcome_gives_the_window_for_the_fleets_size(tenant_a):
    issued = create_enrollment_token(actor=system_actor(), site=tenant_a.site, name="pacing")
    tokens = [enroll_agent(enrollment_token=issued.plaintext, facts={"hostname": f"paced-{n}", "os_type": "linux"})
              .agent_token for n in range(5)]
    AgentCredential.objects.filter(device__hostname="paced-4").update(revoked_at=timezone.now())
    live = AgentCredential.objects.filter(revoked_at__isnull=True).count()
    server = LiveServer(FLEETWATCH_RECONNECTS_PER_SECOND="2")
    server.start()

    async def welcome() -> dict:
        async with websockets.connect(f"{server.ws_url}/ws/agent/",
                                      additional_headers={"Authorization": f"Bearer {tokens[0]}"}) as socket:
            await socket.send(json.dumps({"type": "hello", "agent_version": "test"}))
            return json.loads(await asyncio.wait_for(socket.recv(), 10))

    try:
        answer = asyncio.run(welcome())
        again = asyncio.run(welcome())  # from the process's memory this time (counted within the minute)
    finally:
        server.stop()
    assert answer["type"] == again["type"] == "welcome"
    assert answer["reconnect_spread"] == again["reconnect_spread"] == round(live / 2, 1)
    assert live >= 4  # the revoked agent is not counted, the four others are


def test_the_counted_window_is_known_without_counting_only_while_fresh(tenant_a, settings, monkeypatch):
    from realtime import reconnect_pacing

    settings.FLEETWATCH_RECONNECTS_PER_SECOND = 4
    reconnect_pacing.forget_count()
    assert reconnect_pacing.counted_spread() is None  # never counted: the welcome asks a database thread
    counted = reconnect_pacing.reconnect_spread()
    assert reconnect_pacing.counted_spread() == counted
    monkeypatch.setattr(reconnect_pacing, "REFRESH_SECONDS", -1.0)
    assert reconnect_pacing.counted_spread() is None  # stale: counted again
    reconnect_pacing.forget_count()
