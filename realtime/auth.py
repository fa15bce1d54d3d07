"""Who is on a websocket: a bearer token on the handshake, or (from our own pages only) the session."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlparse

from channels.auth import AuthMiddleware
from channels.db import database_sync_to_async
from channels.sessions import CookieMiddleware, SessionMiddleware
from django.conf import settings
from django.http.request import validate_host

from portal.access import ANONYMOUS, Actor, actor_for_user
from portal.accounts.services import TokenRejected, authenticate_api_token


def _header(scope: dict[str, Any], name: bytes) -> str | None:
    for key, value in scope.get("headers", []):
        if key.lower() == name:
            return value.decode("latin-1")
    return None


def _client_ip(scope: dict[str, Any]) -> str | None:
    client = scope.get("client")
    return client[0] if client else None


def origin_is_ours(origin: str | None) -> bool:
    """A browser's Origin must name one of ALLOWED_HOSTS (stops cross-site websocket hijacking)."""
    if not origin:
        return False
    host = urlparse(origin).hostname or ""
    return validate_host(host, settings.ALLOWED_HOSTS)


@database_sync_to_async
def _actor_from_token(raw: str, ip_address: str | None) -> Actor:
    try:
        user = authenticate_api_token(raw=raw)
    except TokenRejected:
        return ANONYMOUS
    return actor_for_user(user, ip_address=ip_address, via_token=True)


@database_sync_to_async
def _actor_from_user(user: Any, ip_address: str | None) -> Actor:
    return actor_for_user(user, ip_address=ip_address)


class ActorMiddleware:
    """Puts ``scope["actor"]``: from ``Authorization: Bearer`` when sent, else from the session cookie
    when the Origin is ours. Anything else is ANONYMOUS, which the consumers refuse."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.session_auth = CookieMiddleware(SessionMiddleware(AuthMiddleware(self._with_session_actor)))

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> Any:
        ip_address = _client_ip(scope)
        authorization = _header(scope, b"authorization")
        if authorization:
            scheme, _, credentials = authorization.partition(" ")
            actor = ANONYMOUS
            if scheme.lower() == "bearer" and credentials.strip():
                actor = await _actor_from_token(credentials.strip(), ip_address)
            return await self.inner({**scope, "actor": actor}, receive, send)
        if origin_is_ours(_header(scope, b"origin")):
            return await self.session_auth(scope, receive, send)
        return await self.inner({**scope, "actor": ANONYMOUS}, receive, send)

    async def _with_session_actor(self, scope: dict[str, Any], receive: Any, send: Any) -> Any:
        actor = await _actor_from_user(scope.get("user"), _client_ip(scope))
        return await self.inner({**scope, "actor": actor}, receive, send)
