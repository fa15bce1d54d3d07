"""Resolve the request's actor once: from a bearer API token, or from the session."""

from __future__ import annotations

import time
import zoneinfo
from collections.abc import Callable

from allauth.usersessions.internal.usersessionkit import track_activity
from django.conf import settings
from django.contrib import messages
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect
from django.utils import timezone
from django.utils.functional import SimpleLazyObject

from portal.access import actor_for_user
from portal.accounts.services import TokenRejected, authenticate_api_token, has_second_factor, second_factor_required

AGENT_PATH_PREFIX = "/api/agent/"
METRICS_PATH = "/metrics"


def client_ip(request: HttpRequest) -> str | None:
    """The client's address; X-Forwarded-For is believed only behind a proxy the operator declared."""
    if getattr(settings, "FLEETWATCH_TRUST_X_FORWARDED_FOR", False):
        forwarded = request.META.get("HTTP_X_FORWARDED_FOR", "")
        if forwarded:
            return forwarded.split(",")[0].strip()
    return request.META.get("REMOTE_ADDR") or None


class ActorMiddleware:
    """Sets ``request.actor``. A bearer token, when presented, replaces the session and must be valid."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        header = request.headers.get("Authorization", "")
        via_token = False
        # Agent endpoints authenticate agent tokens themselves, and /metrics its own token: neither is a user.
        if header and not request.path.startswith(AGENT_PATH_PREFIX) and request.path != METRICS_PATH:
            scheme, _, credentials = header.partition(" ")
            if scheme.lower() != "bearer" or not credentials.strip():
                return _unauthorized("Use 'Authorization: Bearer <API token>'.")
            try:
                request.user = authenticate_api_token(raw=credentials)
            except TokenRejected as rejection:
                return _unauthorized(str(rejection))
            via_token = True
            # A bearer token is not sent by browsers on their own, so cross-site forgery does not apply.
            request._dont_enforce_csrf_checks = True
        ip_address = client_ip(request)
        request.actor = SimpleLazyObject(
            lambda: actor_for_user(request.user, ip_address=ip_address, via_token=via_token)
        )
        return self.get_response(request)


def _unauthorized(message: str) -> JsonResponse:
    response = JsonResponse({"error": "unauthorized", "message": message}, status=401)
    response["WWW-Authenticate"] = 'Bearer realm="fleetwatch"'
    return response


class TimeZoneMiddleware:
    """Show times in the signed-in user's own time zone (the server's zone otherwise)."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        zone_name = getattr(getattr(request, "user", None), "time_zone", "")
        if zone_name:
            try:
                timezone.activate(zoneinfo.ZoneInfo(zone_name))
            except (zoneinfo.ZoneInfoNotFoundError, ValueError):
                timezone.deactivate()
        else:
            timezone.deactivate()
        return self.get_response(request)


# Where a user who must set up a second factor may still go: the setup itself (allauth's pages, under
# /accounts/), signing out, and what pages load (static files).
SETUP_PATHS = ("/accounts/", "/logout/", "/static/")


class SecondFactorMiddleware:
    """A signed-in user whose role must use a second factor, and has none yet, is taken to set one up before
    anything else (API tokens and agents are not affected: they never sign in)."""

    SESSION_FLAG = "fleetwatch_second_factor_ok"

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        user = getattr(request, "user", None)
        if (
            user is not None
            and user.is_authenticated
            and not request.actor.via_token
            and not request.path.startswith(SETUP_PATHS)
            and not request.session.get(self.SESSION_FLAG)
        ):
            if second_factor_required(user) and not has_second_factor(user):
                messages.warning(request, "Your role signs in with a second factor: set one up to go on.")
                return redirect("mfa_index")
            if has_second_factor(user):
                request.session[self.SESSION_FLAG] = True  # checked once per session, not per request
        return self.get_response(request)


def forget_second_factor_check(sender: object, request: HttpRequest, **kwargs: object) -> None:
    """A second factor was removed: check again at the next request."""
    request.session.pop(SecondFactorMiddleware.SESSION_FLAG, None)


class SessionActivityMiddleware:
    """Notes a session's last address and time for the sessions lists, at most once a minute per session.

    allauth's own middleware writes the session's row on every request: on the embedded database that is a
    write lock taken by every page view and htmx swap, in turn with the agents' writers."""

    interval_seconds = 60.0
    remembered_sessions = 10_000

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response
        self.noted_at: dict[str, float] = {}

    def __call__(self, request: HttpRequest) -> HttpResponse:
        session = getattr(request, "session", None)
        key = session.session_key if session is not None else None
        if key and request.user.is_authenticated and self._due(key):
            track_activity(request, user=request.user, session=session)
        return self.get_response(request)

    def _due(self, key: str) -> bool:
        now = time.monotonic()
        if now - self.noted_at.get(key, -self.interval_seconds) < self.interval_seconds:
            return False
        if len(self.noted_at) >= self.remembered_sessions:
            self.noted_at.clear()  # costs one extra write per active session, never a missed one
        self.noted_at[key] = now
        return True
