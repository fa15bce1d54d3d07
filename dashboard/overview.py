"""The overview page's numbers: each one is a count the page links to as a filtered list."""

from __future__ import annotations

from typing import Any

from django.db.models import Count, Q

from portal.access import Actor
from portal.actions.models import UNFINISHED
from portal.actions.selectors import actions_for
from portal.inventory.models import DeviceStatus
from portal.inventory.selectors import devices_for
from portal.tenancy.selectors import companies_with_counts_for


def fleet_overview(*, actor: Actor) -> dict[str, Any]:
    devices = devices_for(actor=actor).order_by()
    totals = devices.aggregate(
        total=Count("id"), online=Count("id", filter=Q(status=DeviceStatus.ONLINE)),
        offline=Count("id", filter=Q(status=DeviceStatus.OFFLINE)),
        unknown=Count("id", filter=Q(status=DeviceStatus.UNKNOWN)))
    actions = actions_for(actor=actor)
    return {
        "companies": companies_with_counts_for(actor=actor).order_by("name")[:50],
        "totals": totals,
        "with_patches": devices.filter(pending_patches__isnull=False).distinct().count(),
        "open_actions": actions.filter(status__in=UNFINISHED).count(),
        "recent_actions": actions.order_by("-queued_at", "-id")[:10],
        "agent_versions": list(devices.exclude(agent_version="").values_list("agent_version")
                               .annotate(n=Count("id")).order_by("-n", "agent_version")[:10]),
    }
