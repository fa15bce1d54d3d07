"""The GraphQL endpoints: HTTP POST (session with CSRF, or bearer token) and websocket subscriptions."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from strawberry.channels import GraphQLWSConsumer
from strawberry.django.views import GraphQLView
from strawberry.subscriptions import GRAPHQL_TRANSPORT_WS_PROTOCOL

from graph.schema import schema
from portal.events.publish import RIGHTS_CHANGED
from portal.events.relay import ensure_relay_running
from realtime.rights import FollowsRights


class FleetGraphQLView(GraphQLView):
    """No credentials, no data: anonymous requests get 401 before the schema is touched."""

    allow_queries_via_get = False
    # No GraphiQL: it loads React from a CDN and runs inline script, which the pages' Content-Security-
    # Policy (and a server that calls out to nothing) refuse. A browser gets a page on how to query instead.
    graphql_ide = None

    def dispatch(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        wants_page = request.method == "GET" and "text/html" in request.headers.get("Accept", "")
        if not request.actor.is_authenticated:
            if wants_page:
                return redirect(f"/login/?next={request.path}")
            return JsonResponse({"errors": [{"message": "Authentication required: sign in or send "
                                                        "'Authorization: Bearer <API token>'."}]}, status=401)
        if wants_page:
            return render(request, "web/graphql.html", {"endpoint": request.build_absolute_uri(request.path)})
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
