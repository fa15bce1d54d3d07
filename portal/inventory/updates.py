"""The patch catalogue's side of an inventory: what an agent says about each available update, normalised
into one catalogue row per update (source, identifier, version) that every device reporting it points at.

An agent's claims are data, never trusted for more than they say: text is cut to its column, numbers that
are not numbers are dropped, and a source the catalogue does not know leaves the update out.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from portal.inventory.models import PatchUpdate, UpdateCategory, UpdateSeverity, UpdateSource

# Windows Update's classification names (the Categories of type UpdateClassification) → our categories.
WINDOWS_CLASSIFICATIONS = {
    "security updates": UpdateCategory.SECURITY, "critical updates": UpdateCategory.CRITICAL,
    "definition updates": UpdateCategory.DEFINITION, "drivers": UpdateCategory.DRIVER,
    "feature packs": UpdateCategory.FEATURE, "upgrades": UpdateCategory.FEATURE,
    "service packs": UpdateCategory.FEATURE, "update rollups": UpdateCategory.UPDATE,
    "updates": UpdateCategory.UPDATE, "tools": UpdateCategory.UPDATE,
}
# What agents on other platforms say (apt, dnf, softwareupdate, winget, brew).
PLAIN_CLASSIFICATIONS = {
    "security": UpdateCategory.SECURITY, "update": UpdateCategory.UPDATE, "recommended": UpdateCategory.UPDATE,
    "feature": UpdateCategory.FEATURE, "application": UpdateCategory.APPLICATION,
}
APPLICATION_SOURCES = {UpdateSource.WINGET, UpdateSource.BREW}
KNOWN_SEVERITIES = {value for value in UpdateSeverity.values if value}


@dataclass(frozen=True)
class ReportedUpdate:
    """One update as an agent reported it, checked and normalised."""

    source: str
    identifier: str
    version: str
    title: str
    category: str
    severity: str
    size_bytes: int | None
    reboot_required: bool | None
    released_at: datetime | None
    from_version: str

    @property
    def key(self) -> tuple[str, str, str]:
        return self.source, self.identifier, self.version


def _text(value: Any, limit: int) -> str:
    return value.strip()[:limit] if isinstance(value, str) else ""


def _category(source: str, classification: str, security: bool) -> str:
    if source in APPLICATION_SOURCES:
        return UpdateCategory.APPLICATION
    if source == UpdateSource.WINDOWS_UPDATE:
        found = [WINDOWS_CLASSIFICATIONS.get(name.strip().lower()) for name in classification.split(",")]
        found = [category for category in found if category is not None]
        if UpdateCategory.SECURITY in found or security:
            return UpdateCategory.SECURITY
        return found[0] if found else UpdateCategory.UPDATE
    if security:
        return UpdateCategory.SECURITY
    return PLAIN_CLASSIFICATIONS.get(classification.lower(), UpdateCategory.UPDATE)


def reported_update(item: Any) -> ReportedUpdate | None:
    """An agent's record of an update, or None when it names no update of a known source."""
    if not isinstance(item, dict):
        return None
    identifier = _text(item.get("id"), 255)
    source = _text(item.get("source"), 32)
    if source == "windows":  # older agents said so
        source = UpdateSource.WINDOWS_UPDATE
    if not identifier or source not in UpdateSource.values:
        return None
    severity = _text(item.get("severity"), 32).lower()
    size = item.get("size")
    released = item.get("released")
    reboot = item.get("reboot")
    return ReportedUpdate(
        source=source, identifier=identifier, version=_text(item.get("version"), 128),
        title=_text(item.get("title"), 500) or identifier,
        category=_category(source, _text(item.get("classification"), 200), item.get("security") is True),
        severity=severity if severity in KNOWN_SEVERITIES else UpdateSeverity.UNSPECIFIED,
        size_bytes=size if isinstance(size, int) and not isinstance(size, bool) and 0 < size < 2**50 else None,
        reboot_required=reboot if isinstance(reboot, bool) else None,
        released_at=datetime.fromtimestamp(released, tz=UTC)
        if isinstance(released, int | float) and not isinstance(released, bool) and 0 < released < 32503680000
        else None,
        from_version=_text(item.get("from_version"), 128))


def catalogue_ids(updates: Iterable[ReportedUpdate]) -> dict[tuple[str, str, str], int]:
    """The catalogue row of each update, added when the fleet reports it for the first time (call inside the
    inventory's write transaction: two processes adding the same update at once both end with the one row)."""
    wanted = {update.key: update for update in updates}
    if not wanted:
        return {}
    found = _existing(wanted)
    missing = [update for key, update in wanted.items() if key not in found]
    if missing:
        PatchUpdate.objects.bulk_create(
            [PatchUpdate(source=u.source, identifier=u.identifier, version=u.version, title=u.title,
                         category=u.category, severity=u.severity, size_bytes=u.size_bytes,
                         reboot_required=u.reboot_required, released_at=u.released_at) for u in missing],
            ignore_conflicts=True, batch_size=500)
        found |= _existing({update.key: update for update in missing})
    return found


def _existing(wanted: dict[tuple[str, str, str], ReportedUpdate]) -> dict[tuple[str, str, str], int]:
    identifiers = sorted({identifier for _, identifier, _ in wanted})
    found: dict[tuple[str, str, str], int] = {}
    for start in range(0, len(identifiers), 500):
        rows = PatchUpdate.objects.filter(identifier__in=identifiers[start:start + 500]).values_list(
            "pk", "source", "identifier", "version")
        found |= {(source, identifier, version): pk for pk, source, identifier, version in rows
                  if (source, identifier, version) in wanted}
    return found
