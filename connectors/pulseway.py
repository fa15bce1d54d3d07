"""Pulseway REST API v3: Basic auth with token id and secret, the {Data, Meta} envelope, $top/$skip
paging (100 at most)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from connectors.http import ConnectorError, VendorClient

PAGE = 100


class PulsewayClient:
    def __init__(self, client: VendorClient) -> None:
        self.client = client

    def _data(self, path: str, params: dict[str, Any] | None = None) -> tuple[Any, dict[str, Any]]:
        response = self.client.get(path, params=params)
        try:
            body = response.json()
        except ValueError as error:
            raise ConnectorError(f"{path} did not answer JSON (HTTP {response.status_code}).") from error
        meta = body.get("Meta") or {}
        code = meta.get("ResponseCode", response.status_code)
        if response.status_code >= 400 or code >= 400:
            raise ConnectorError(f"{path}: {meta.get('ErrorMessage') or 'error'} (code {code}).")
        return body.get("Data"), meta

    def all(self, path: str) -> Iterator[dict[str, Any]]:
        """Every item of a list, page by page ($top=100, $skip)."""
        skip = 0
        while True:
            data, meta = self._data(path, {"$top": PAGE, "$skip": skip})
            items = data or []
            yield from items
            skip += len(items)
            total = meta.get("TotalCount")
            if len(items) < PAGE or (total is not None and skip >= total):
                return

    def one(self, path: str) -> dict[str, Any]:
        data, _ = self._data(path)
        return data or {}
