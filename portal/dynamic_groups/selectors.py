"""Reads of dynamic groups and of their members, always through the reader's scope: a group the whole MSP
shares shows each technician only the devices of their companies."""

from __future__ import annotations

import hashlib
from typing import Any

from django.core.cache import cache
from django.db.models import Q, QuerySet

from portal.access import Actor, rows_for_system, visible_to
from portal.dynamic_groups.models import DynamicGroup
from portal.dynamic_groups.rules import combine, rule_condition
from portal.inventory.models import Device, InstalledSoftware, PendingPatch
from portal.inventory.selectors import devices_for
from portal.tags.selectors import carrying


def dynamic_groups_for(*, actor: Actor) -> QuerySet[DynamicGroup]:
    return visible_to(DynamicGroup.objects.select_related("company"), actor)


def _narrowing(field: str, rule: dict[str, Any]) -> Q:
    """Conditions read from the tables beside the device's own row. They narrow devices the caller already
    scoped; the ids they read are never shown."""
    op, value = rule["op"], rule.get("value")
    if field == "tag":
        carriers = Q(pk__in=carrying(Device, tag_id=value))
        return carriers if op == "has" else ~carriers
    if field == "software":
        installed = InstalledSoftware.objects.filter(name__icontains=value)
        if rule.get("version"):
            installed = installed.filter(version=rule["version"])
        found = Q(pk__in=installed.values("device_id"))
        return found if op == "installed" else ~found
    if field == "patches":
        pending = PendingPatch.objects.all()
        if op == "contains":
            pending = pending.filter(Q(update__identifier__icontains=value) | Q(update__title__icontains=value))
        found = Q(pk__in=pending.values("device_id"))
        return ~found if op == "none" else found
    return Q(pk__in=[])


def rules_shown_to(*, actor: Actor, group: DynamicGroup) -> list[dict[str, Any]] | None:
    """A group's rules as its reader may see them: an MSP-wide group's rules can name other companies' sites
    and groups, so a reader scoped to some companies sees its name and its count of their devices, not its
    rules (None)."""
    return group.rules if actor.sees_all_companies or group.company_id is not None else None


def group_condition(group: DynamicGroup) -> Q:
    """The condition a group's rules compile to; a company's group holds only that company's devices."""
    condition = combine([rule_condition(rule, narrowing=_narrowing) for rule in group.rules], match=group.match)
    return condition & Q(company_id=group.company_id) if group.company_id is not None else condition


def members_of(*, actor: Actor, group: DynamicGroup) -> QuerySet[Device]:
    """The devices of ``group`` the actor may see, evaluated now."""
    return devices_for(actor=actor).filter(group_condition(group))


def member_ids(group: DynamicGroup) -> QuerySet:
    """The ids of every device matching ``group``, for a filter over devices the caller already scoped."""
    return Device.objects.filter(group_condition(group)).values("pk")


PICKER_COUNT_SECONDS = 30


def _scope_key(actor: Actor) -> str:
    companies = "all" if actor.company_ids is None else ",".join(map(str, sorted(actor.company_ids)))
    return hashlib.sha256(companies.encode()).hexdigest()[:16]


def dynamic_group_choices(actor: Actor) -> list[tuple[str, str]]:
    """(id, "name (count)") of the groups the actor sees, for the device list's picker. Each count is kept for
    30 seconds per scope, so a list page with many groups does not count them all on every load."""
    scope = _scope_key(actor)
    choices = []
    for group in dynamic_groups_for(actor=actor)[:100]:
        key = f"dynamic-group-count:{group.pk}:{group.updated_at.isoformat()}:{scope}"
        count = cache.get_or_set(key, lambda g=group: members_of(actor=actor, group=g).count(), PICKER_COUNT_SECONDS)
        choices.append((str(group.pk), f"{group.name} ({count})"))
    return choices


def filter_by_group(rows: QuerySet[Device], group_id: str) -> QuerySet[Device]:
    """Narrow already-scoped device rows to a group's members (the id was checked against the reader's
    choices)."""
    group = rows_for_system(DynamicGroup).filter(pk=int(group_id)).first()
    return rows.filter(group_condition(group)) if group is not None else rows.none()
