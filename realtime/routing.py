"""Websocket routes. Every socket passes the actor middleware; consumers refuse anonymous actors."""

from django.urls import path

from graph.views import FleetGraphQLWSConsumer

websocket_urlpatterns = [
    path("graphql/", FleetGraphQLWSConsumer.as_asgi()),
]
