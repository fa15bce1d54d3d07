"""Websocket routes. Every socket passes the actor middleware; consumers refuse anonymous callers."""

from django.urls import path

from graph.views import FleetGraphQLWSConsumer
from realtime.agent_consumer import AgentConsumer
from realtime.live_consumer import LiveConsumer

websocket_urlpatterns = [
    path("graphql/", FleetGraphQLWSConsumer.as_asgi()),
    path("ws/agent/", AgentConsumer.as_asgi()),
    path("ws/live/", LiveConsumer.as_asgi()),
]
