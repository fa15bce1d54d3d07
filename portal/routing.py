"""Websocket routes. Every socket passes the actor middleware; consumers refuse anonymous callers."""

from django.urls import path

from dashboard.live import LiveConsumer
from graph.views import FleetGraphQLWSConsumer
from realtime.agent_consumer import AgentConsumer
from realtime.remote_consumer import RemoteConsumer

websocket_urlpatterns = [
    path("graphql/", FleetGraphQLWSConsumer.as_asgi()),
    path("ws/agent/", AgentConsumer.as_asgi()),
    path("ws/live/", LiveConsumer.as_asgi()),
    path("ws/remote/<uuid:key>/", RemoteConsumer.as_asgi()),
]
