"""ASGI entry point: HTTP through Django, websockets through Channels (behind the actor middleware)."""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")
django_http = get_asgi_application()

# These need Django set up first.
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402

from realtime.auth import ActorMiddleware  # noqa: E402
from realtime.routing import websocket_urlpatterns  # noqa: E402

application = ProtocolTypeRouter({
    "http": django_http,
    "websocket": ActorMiddleware(URLRouter(websocket_urlpatterns)),
})
