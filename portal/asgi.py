"""ASGI entry point: HTTP through Django, websockets through Channels (behind the actor middleware)."""

import gc
import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")
django_http = get_asgi_application()

# These need Django set up first.
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402

from portal.events.publish import send_through_this_loop  # noqa: E402
from portal.operations.gc_pacing import pace_young_collections  # noqa: E402
from portal.operations.gc_pauses import watch_garbage_collection  # noqa: E402
from portal.operations.metrics import remove_files_of_ended_processes  # noqa: E402
from portal.operations.services import ensure_beating  # noqa: E402
from portal.routing import websocket_urlpatterns  # noqa: E402
from realtime.agent_http_handler import AgentHttpHandler, is_agent_http  # noqa: E402
from realtime.auth import ActorMiddleware  # noqa: E402
from realtime.autobahn_logging import format_config_only_when_debugging  # noqa: E402
from realtime.prompt_exit import exit_promptly_after_shutdown  # noqa: E402

format_config_only_when_debugging()

# Thousands of long-lived sockets make Python's full garbage collections slow enough to stall every
# heartbeat on this process. Freeze what start-up created and collect the young generation less often.
# The middle generation is collected every 3 young collections, not 50: its pause grows with what survived
# since the last one (a connect storm's sockets), and at 50 it stopped a process of 7,500 agents for 0.9 s;
# collecting it more often costs no more in all. The oldest is collected as rarely as before (~225 million
# allocations apart, and only once long-lived objects grew by a quarter). The young generation is also
# collected every second (portal/operations/gc_pacing.py): in a busy process its count lags what it holds.
gc.collect()
gc.freeze()
gc.set_threshold(50_000, 3, 1_500)
watch_garbage_collection()

remove_files_of_ended_processes()  # the metric files of web processes and workers that have ended
exit_promptly_after_shutdown()

router = ProtocolTypeRouter({
    "http": django_http,
    "websocket": ActorMiddleware(URLRouter(websocket_urlpatterns)),
})
agent_http = AgentHttpHandler()


async def application(scope, receive, send):
    """The router, after making sure this process beats (started on the loop of its first connection)."""
    ensure_beating()
    pace_young_collections()
    send_through_this_loop()
    if is_agent_http(scope):  # enrollment and the heartbeat fallback: see realtime/agent_http_handler.py
        return await agent_http(scope, receive, send)
    return await router(scope, receive, send)
