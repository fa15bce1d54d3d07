"""The agents' HTTP paths (enrollment, the heartbeat fallback) served without Channels' one sync thread.

Under daphne, Django runs every request's middleware in async mode: each of the ~17 middlewares' sync
hooks hops to the one thread that also runs every other synchronous call of the process, two hops a
middleware. An MSP's roll-out enrolls thousands of agents at once, and each enrollment then waited in that
thread's queue some thirty times. Here the same middleware chain is loaded in sync mode and runs with the
view as one call on the agent sockets' database threads (``realtime.agent_db``), so enrollments run side by
side (PostgreSQL takes them in parallel) and page views are not queued behind them.
"""

from __future__ import annotations

from django.core.handlers.asgi import ASGIHandler
from django.http import HttpRequest, HttpResponseBase

from realtime.agent_db import agent_db

AGENT_HTTP_PREFIX = "/api/agent/"


class AgentHttpHandler(ASGIHandler):
    def load_middleware(self, is_async: bool = False) -> None:
        super().load_middleware(is_async=False)

    async def get_response_async(self, request: HttpRequest) -> HttpResponseBase:
        return await agent_db(self.get_response)(request)


def is_agent_http(scope: dict) -> bool:
    return scope.get("type") == "http" and scope.get("path", "").startswith(AGENT_HTTP_PREFIX)
