"""HTTP for connectors: counts requests, honours 429 + Retry-After, backs off on 5xx and network
errors, and turns bad credentials into one clear error."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import httpx

MAX_ATTEMPTS = 8
MAX_WAIT_SECONDS = 60.0


class ConnectorError(Exception):
    """The sync cannot go on (bad credentials, the vendor down after retries); the message is shown."""


class VendorClient:
    def __init__(self, *, base_url: str, auth: httpx.Auth | tuple[str, str] | None, timeout: float = 30,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        self.http = httpx.Client(base_url=base_url, auth=auth, timeout=timeout,
                                 headers={"User-Agent": "fleetwatch-connector"})
        self.sleep = sleep
        self.requests = 0
        self.retries = 0

    def close(self) -> None:
        self.http.close()

    def get(self, path: str, params: dict[str, Any] | None = None) -> httpx.Response:
        return self.request("GET", path, params=params)

    def request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        delay = 0.5
        for attempt in range(1, MAX_ATTEMPTS + 1):
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
                raise ConnectorError(f"The vendor refused the credentials (HTTP {response.status_code}); check the "
                                     "token id and secret on the connector.")
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
            return response
        raise ConnectorError(f"Still rate-limited after {MAX_ATTEMPTS} attempts on {path}.")

    def _wait(self, seconds: float) -> None:
        self.retries += 1
        self.sleep(min(seconds, MAX_WAIT_SECONDS))


def _retry_after(response: httpx.Response, *, default: float) -> float:
    value = response.headers.get("Retry-After", "")
    try:
        return max(0.0, float(value))
    except ValueError:
        return default
