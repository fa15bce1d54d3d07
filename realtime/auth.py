"""Who is on a websocket: a bearer token on the handshake, or (from our own pages only) the session."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlparse

from channels.auth import AuthMiddleware
from channels.db import database_sync_to_async
from channels.sessions import CookieMiddleware, SessionMiddleware
from django.conf import settings
from django.contrib.sessions.models import Session
from django.http.request import validate_host

from portal.access import ANONYMOUS, Actor, actor_for_user
from portal.accounts.services import (
    TokenRejected,
    authenticate_api_token_row,
    has_second_factor,
    second_factor_required,
)
from realtime.rights import Credential


def _header(scope: dict[str, Any], name: bytes) -> str | None:
    for key, value in scope.get("headers", []):
        if key.lower() == name:
            return value.decode("latin-1")
    return None


def _client_ip(scope: dict[str, Any]) -> str | None:
    client = scope.get("client")
    return client[0] if client else None


def _origin_of(url: str) -> str | None:
    """``scheme://host[:port]`` as a browser writes it in Origin (default ports left out), or None."""
    parsed = urlparse(url.strip())
    if parsed.scheme not in ("http", "https") or not parsed.hostname or parsed.username or parsed.password:
        return None
    try:
        port = parsed.port
    except ValueError:
        return None
    host = f"[{parsed.hostname}]" if ":" in parsed.hostname else parsed.hostname
    default = {"http": 80, "https": 443}[parsed.scheme]
    return f"{parsed.scheme}://{host}" + (f":{port}" if port and port != default else "")


def configured_origins() -> set[str]:
    """Origins written out in the settings: CSRF_TRUSTED_ORIGINS (wildcards left out) and FLEETWATCH_BASE_URL."""
    written = [*settings.CSRF_TRUSTED_ORIGINS, settings.FLEETWATCH_BASE_URL]
    return {origin for origin in map(_origin_of, written) if origin and "*" not in origin}


def origin_is_ours(origin: str | None, scope: dict[str, Any] | None = None) -> bool:
    """A browser's Origin must be exactly one of our origins — scheme, host and port — to use the session
    (stops cross-site websocket hijacking). Ours: the configured origins, or the very address the socket was
    opened on when its host is listed by name in ALLOWED_HOSTS (no wildcards)."""
    if not origin or _origin_of(origin) != origin.strip().rstrip("/"):
        return False
    if origin in configured_origins():
        return True
    if scope is None:
        return False
    host = _header(scope, b"host") or ""
    listed = {entry.lower() for entry in settings.ALLOWED_HOSTS if not entry.startswith(".") and entry != "*"}
    name = host.rsplit(":", 1)[0] if not host.endswith("]") else host
    if not host or name.lower() not in listed or not validate_host(name, settings.ALLOWED_HOSTS):
        return False
    secure = scope.get("scheme") == "wss" or (
        getattr(settings, "SECURE_PROXY_SSL_HEADER", None) is not None
        and (_header(scope, b"x-forwarded-proto") or "").lower() == "https")
    return _origin_of(f"{'https' if secure else 'http'}://{host}") == origin


@database_sync_to_async
def _actor_from_token(raw: str, ip_address: str | None) -> tuple[Actor, Credential | None]:
    try:
        token = authenticate_api_token_row(raw=raw)
    except TokenRejected:
        return ANONYMOUS, None
    actor = actor_for_user(token.user, ip_address=ip_address, via_token=True)
    return actor, Credential(user_id=token.user_id, api_token_id=token.pk, expires_at=token.expires_at)


@database_sync_to_async
def _actor_from_session(scope: dict[str, Any], ip_address: str | None) -> tuple[Actor, Credential | None]:
    user = scope.get("user")
    actor = actor_for_user(user, ip_address=ip_address)
    if not actor.is_authenticated:
        return actor, None
    if second_factor_required(user) and not has_second_factor(user):
        return ANONYMOUS, None  # as on the pages: nothing until a second factor is set up
    key = getattr(scope.get("session"), "session_key", None)
    expires_at = Session.objects.filter(session_key=key).values_list("expire_date", flat=True).first() \
        if key else None
    return actor, Credential(user_id=actor.user_id, api_token_id=None, expires_at=expires_at)


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
            actor, credential = ANONYMOUS, None
            if scheme.lower() == "bearer" and credentials.strip():
                actor, credential = await _actor_from_token(credentials.strip(), ip_address)
            return await self.inner({**scope, "actor": actor, "credential": credential}, receive, send)
        if origin_is_ours(_header(scope, b"origin"), scope):
            return await self.session_auth(scope, receive, send)
        return await self.inner({**scope, "actor": ANONYMOUS, "credential": None}, receive, send)

    async def _with_session_actor(self, scope: dict[str, Any], receive: Any, send: Any) -> Any:
        actor, credential = await _actor_from_session(scope, _client_ip(scope))
        return await self.inner({**scope, "actor": actor, "credential": credential}, receive, send)
