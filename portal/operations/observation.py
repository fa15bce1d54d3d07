"""Every HTTP request gets an id (the caller's ``X-Request-ID`` when it is a sane one) that its log lines
carry with the signed-in user, and its answer time is recorded by route for /metrics."""

from __future__ import annotations

import contextvars
import logging
import re
import time
import uuid
from collections.abc import Callable

from django.http import HttpRequest, HttpResponse
from django.utils.functional import empty

from portal.operations.metrics import HTTP_SECONDS

_REQUEST: contextvars.ContextVar[HttpRequest | None] = contextvars.ContextVar("fleetwatch_request", default=None)
_REQUEST_ID: contextvars.ContextVar[str] = contextvars.ContextVar("fleetwatch_request_id", default="")
_SANE_ID = re.compile(r"^[A-Za-z0-9._-]{8,64}$")


class RequestObservationMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        offered = request.headers.get("X-Request-ID", "")
        request_id = offered if _SANE_ID.fullmatch(offered) else uuid.uuid4().hex
        # Not reset on the way out: Django logs a 404 or 500 after the middleware has answered, and that line
        # must carry the id too. The next request on this thread (or context) sets its own.
        _REQUEST.set(request)
        _REQUEST_ID.set(request_id)
        started = time.monotonic()
        response = self.get_response(request)
        match = getattr(request, "resolver_match", None)
        # The route pattern, never the path: ids in paths would make a label per object.
        route = match.route if match is not None and match.route else "unmatched"
        HTTP_SECONDS.labels(route=route[:100], method=request.method if request.method in _METHODS else "other",
                            status=f"{response.status_code // 100}xx").observe(time.monotonic() - started)
        response["X-Request-ID"] = request_id
        return response


_METHODS = {"GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"}


class RequestContextFilter(logging.Filter):
    """Adds ``request_id`` and ``actor`` to every log record (empty outside a request)."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = _REQUEST_ID.get()
        record.actor = _known_user(_REQUEST.get())
        return True


def _known_user(request: HttpRequest | None) -> str:
    """The user's name if the request already knows it: a log line never makes a database query itself."""
    if request is None:
        return ""
    user = request.__dict__.get("user")
    wrapped = getattr(user, "_wrapped", user)
    if user is None or wrapped is empty or not getattr(wrapped, "is_authenticated", False):
        return ""
    return wrapped.get_username()
