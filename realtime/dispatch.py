"""Dispatch of busy sockets' messages without Channels' per-message database hop."""

from __future__ import annotations

from typing import Any

from channels.consumer import get_handler_name


class DirectDispatch:
    """Mixin for consumers that handle many messages a second (agents, remote sessions).

    Channels' own dispatch calls ``aclose_old_connections`` before every message, a hop to the one thread that
    runs all synchronous database work: thousands of heartbeat acks, or a terminal's stream of output chunks,
    then queue behind page views and writes (p99 of seconds at 5,000 agents; most of a web process's time
    for five shells). These consumers make their database calls through ``database_sync_to_async`` or
    ``agent_db``, which close stale connections themselves."""

    async def dispatch(self, message: dict[str, Any]) -> None:
        handler = getattr(self, get_handler_name(message), None)
        if handler is None:
            raise ValueError(f"No handler for message type {message['type']}")
        await handler(message)
