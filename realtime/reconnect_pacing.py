"""How fast a restarted server's fleet comes back: the welcome tells each agent the window over which to
spread its reconnects.

When a server restarts, every agent loses its socket at the same moment. With only their own backoff (a
second or two at first) 15,000 agents arrive within a few seconds: more handshakes than the processes can
answer before the agents' 15 s handshake timeout, and each timeout doubles that agent's next wait, so the
last ones come back minutes later. Spreading the first reconnect over (agents enrolled / reconnects a second
the server takes) keeps the storm at a pace it answers, so the whole fleet is back in about that window.
"""

from __future__ import annotations

import time

from django.conf import settings

from portal.inventory.selectors import connectable_agent_count

REFRESH_SECONDS = 60.0  # the fleet's size changes slowly; counting it costs a query
_counted: tuple[float, int] = (float("-inf"), 0)


def reconnect_spread() -> float:
    """Seconds over which an agent of this fleet should spread a reconnect (0: a small fleet need not)."""
    global _counted
    counted_at, agents = _counted
    if time.monotonic() - counted_at > REFRESH_SECONDS:
        agents = connectable_agent_count()
        _counted = (time.monotonic(), agents)
    return _spread_for(agents)


def counted_spread() -> float | None:
    """``reconnect_spread()`` while its count is fresh, without counting; None when it needs counting."""
    counted_at, agents = _counted
    if time.monotonic() - counted_at > REFRESH_SECONDS:
        return None
    return _spread_for(agents)


def _spread_for(agents: int) -> float:
    return round(agents / max(1, settings.FLEETWATCH_RECONNECTS_PER_SECOND), 1)


def forget_count() -> None:
    global _counted
    _counted = (float("-inf"), 0)
