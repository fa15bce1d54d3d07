"""HTTP for connectors: counts requests, keeps under a vendor's documented request rate, honours
429 + Retry-After, backs off on 5xx and network errors, and turns bad credentials into one clear error."""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx
from django.core.exceptions import ValidationError

from connectors.models import connector_target

MAX_ATTEMPTS = 8
MAX_WAIT_SECONDS = 60.0


class ConnectorError(Exception):
    """The sync cannot go on (bad credentials, the vendor down after retries); the message is shown."""


def checked_base_url(url: str) -> str:
    """The connector's base URL rebuilt from its checked parts, ending in "/" (rows saved before URLs were
    checked strictly are refused here, with why)."""
    try:
        return connector_target(url).url.rstrip("/") + "/"
    except ValidationError as refused:
        raise ConnectorError(f"The connector's base URL is refused: {' '.join(refused.messages)}") from refused


@dataclass(frozen=True)
class RateLimit:
    """At most ``requests`` in any ``per_seconds`` (e.g. Datto RMM: 600 per 60 s)."""

    requests: int
    per_seconds: float


class VendorClient:
    def __init__(self, *, base_url: str, auth: httpx.Auth | tuple[str, str] | None, timeout: float = 30,
                 sleep: Callable[[float], None] = time.sleep, clock: Callable[[], float] = time.monotonic,
                 rate_limit: RateLimit | None = None,
                 after_response: Callable[[httpx.Response], float] | None = None) -> None:
        """``after_response`` reads a vendor's rate-limit headers and answers how long to pause (0: none)."""
        self.http = httpx.Client(base_url=base_url, auth=auth, timeout=timeout,
                                 headers={"User-Agent": "fleetwatch-connector"})
        self.sleep = sleep
        self.clock = clock
        self.rate_limit = rate_limit
        self.after_response = after_response
        self.sent_at: deque[float] = deque()
        self.counting = threading.Lock()  # requests may go out from several threads (Pulseway details)
        self.requests = 0
        self.retries = 0
        self.paused_seconds = 0.0

    def close(self) -> None:
        self.http.close()

    def get(self, path: str, params: dict[str, Any] | None = None) -> httpx.Response:
        return self.request("GET", path, params=params)

    def request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        delay = 0.5
        for attempt in range(1, MAX_ATTEMPTS + 1):
            with self.counting:
                self._keep_under_rate_limit()
                self.requests += 1
            try:
                response = self.http.request(method, path, **kwargs)
            except httpx.TransportError as error:
                if attempt == MAX_ATTEMPTS:
                    raise ConnectorError(f"Cannot reach {self.http.base_url}: {error}") from error
                self._wait(delay)
                delay = min(delay * 2, MAX_WAIT_SECONDS)
                continue
            if response.status_code in (401, 403):
                raise ConnectorError(f"The vendor refused the credentials (HTTP {response.status_code}) on {path}; "
                                     "check the API key or token id and secret on the connector.")
            if response.status_code == 429:
                self._wait(_retry_after(response, default=delay))
                delay = min(delay * 2, MAX_WAIT_SECONDS)
                continue
            if response.status_code >= 500:
                if attempt == MAX_ATTEMPTS:
                    raise ConnectorError(f"The vendor kept failing (HTTP {response.status_code}) on {path}.")
                self._wait(delay)
                delay = min(delay * 2, MAX_WAIT_SECONDS)
                continue
            if self.after_response is not None:
                self._pause(self.after_response(response))
            return response
        raise ConnectorError(f"Still rate-limited after {MAX_ATTEMPTS} attempts on {path}.")

    def _wait(self, seconds: float) -> None:
        with self.counting:
            self.retries += 1
        self._pause(seconds)

    def _pause(self, seconds: float) -> None:
        if seconds > 0:
            seconds = min(seconds, MAX_WAIT_SECONDS)
            self.paused_seconds += seconds
            self.sleep(seconds)

    def _keep_under_rate_limit(self) -> None:
        """Wait until one more request fits in the vendor's window (a sliding window of send times)."""
        if self.rate_limit is None:
            return
        window = self.rate_limit.per_seconds
        while len(self.sent_at) >= self.rate_limit.requests:
            oldest_expires = self.sent_at[0] + window - self.clock()
            if oldest_expires <= 0:
                self.sent_at.popleft()
                continue
            self._pause(oldest_expires)
        self.sent_at.append(self.clock())


def _retry_after(response: httpx.Response, *, default: float) -> float:
    value = response.headers.get("Retry-After", "")
    try:
        return max(0.0, float(value))
    except ValueError:
        return default
