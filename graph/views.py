"""The GraphQL endpoints: HTTP POST (session with CSRF, or bearer token) and websocket subscriptions."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect
from strawberry.channels import GraphQLWSConsumer
from strawberry.django.views import GraphQLView
from strawberry.subscriptions import GRAPHQL_TRANSPORT_WS_PROTOCOL

from graph.schema import schema
from realtime.publish import RIGHTS_CHANGED
from realtime.relay import ensure_relay_running
from realtime.rights import FollowsRights


class FleetGraphQLView(GraphQLView):
    """No credentials, no data: anonymous requests get 401 before the schema is touched."""

    allow_queries_via_get = False
    graphql_ide = "graphiql"

    def dispatch(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if not request.actor.is_authenticated:
            if request.method == "GET" and "text/html" in request.headers.get("Accept", ""):
                return redirect(f"/login/?next={request.path}")
            return JsonResponse({"errors": [{"message": "Authentication required: sign in or send "
                                                        "'Authorization: Bearer <API token>'."}]}, status=401)
        return super().dispatch(request, *args, **kwargs)


graphql_view = FleetGraphQLView.as_view(schema=schema)


class FleetGraphQLWSConsumer(FollowsRights, GraphQLWSConsumer):
    """graphql-transport-ws over Channels; refuses sockets without an actor, and closes when the rights it
    was opened with change or lapse."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(schema=schema, subscription_protocols=(GRAPHQL_TRANSPORT_WS_PROTOCOL,), **kwargs)

    async def connect(self) -> None:
        if not self.scope.get("actor") or not self.scope["actor"].is_authenticated:
            await self.close(code=4401)
            return
        ensure_relay_running()
        await super().connect()
        await self.follow_rights()

    async def dispatch(self, message: dict[str, Any]) -> None:
        # Strawberry hands every channel-layer message to its subscriptions; this one is the socket's own.
        if message.get("type") == RIGHTS_CHANGED:
            await self.actor_changed(message)
            return
        await super().dispatch(message)

    async def disconnect(self, code: int) -> None:
        await self.stop_following_rights()
        if self.run_task is not None:  # refused before strawberry started: nothing of its own to end
            await super().disconnect(code)
