"""Which record of another tool (Pulseway, Datto RMM, Freshservice) a Fleetwatch row is.

Connector syncs write companies, sites, groups, contacts and devices through the same services people
use; the ``Upstream`` they pass is the one thing those services take from a sync only: the link kept in
``external_ids`` (a Pulseway run goes where it points, so no person may write it) and the state the
vendor observed (a device's status, addresses, last contact)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.core.exceptions import PermissionDenied

from portal.access import Actor


@dataclass(frozen=True)
class Upstream:
    """The upstream record behind a row: its tool, its id there, and what else the tool said of it."""

    source: str
    external_id: str
    facts: dict[str, Any] | None = None  # devices: vendor-specific details, kept beside the id

    def merged_into(self, external_ids: dict[str, Any] | None) -> dict[str, Any]:
        merged = {**(external_ids or {}), self.source: self.external_id}
        if self.facts is not None:
            merged[f"{self.source}_facts"] = self.facts
        return merged


def require_sync(*, actor: Actor, upstream: Upstream | None) -> None:
    """Only a connector sync (a system actor) links a row to another tool."""
    if upstream is not None and not actor.is_system:
        raise PermissionDenied("Links to other tools are written by connector syncs only.")


def sync_writes(*, upstream: Upstream | None, fields: tuple[str, ...], observed: tuple[str, ...] = ()
                ) -> tuple[str, ...]:
    """The fields a write may change: a person's ``fields``, and for a sync the link and what it observed."""
    return fields if upstream is None else (*fields, *observed, "external_ids")
