"""How a resolver learns who is asking: the actor resolved once by the HTTP middleware or the socket."""

from __future__ import annotations

from typing import Any

from strawberry.types import Info

from portal.access import ANONYMOUS, Actor


def actor_from(info: Info) -> Actor:
    """The actor of this operation; ANONYMOUS when none was resolved (and so it sees nothing)."""
    context: Any = info.context
    request = getattr(context, "request", None)
    if request is None and isinstance(context, dict):
        request = context.get("request")
    actor = getattr(request, "actor", None)
    if actor is None:
        scope = getattr(request, "scope", None) or {}
        actor = scope.get("actor")
    return actor or ANONYMOUS
