"""Agent roll-outs in rings: which devices are offered the server's current agent release.

A device is offered the release when a rollout is active, its agent runs another version, and it is in the
rollout's dynamic group or in its percentage (a stable hash of device and version below the percentage).
Every web process keeps the active rollout for a few seconds, so an agent's hello costs no query unless the
rollout names a dynamic group (then one).
"""

from __future__ import annotations

import hashlib
import time
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction

from portal.access import Actor, require_msp_admin, rows_for_system
from portal.audit.services import record, snapshot
from portal.dynamic_groups.models import DynamicGroup
from portal.dynamic_groups.selectors import member_ids
from portal.operations.agent_release import AgentRelease, current_release
from portal.operations.models import AgentRollout

CACHE_SECONDS = 5.0
_cached: tuple[float, AgentRollout | None, AgentRelease | None] = (0.0, None, None)


def in_percentage(*, device_id: int, version: str, percent: int) -> bool:
    bucket = int(hashlib.sha256(f"{version}:{device_id}".encode()).hexdigest()[:8], 16) % 100
    return bucket < percent


@transaction.atomic
def start_rollout(*, actor: Actor, percent: int, dynamic_group: DynamicGroup | None = None) -> AgentRollout:
    """Offer the current release to a ring; replaces the rollout before it."""
    require_msp_admin(actor, what="Agent roll-outs")
    release = current_release()
    if release is None:
        raise ValidationError("No agent release is built yet: run 'manage.py build_agent'.")
    if not 0 <= percent <= 100:
        raise ValidationError({"percent": "Give a share from 0 to 100."})
    if percent == 0 and dynamic_group is None:
        raise ValidationError({"percent": "Choose a dynamic group, or a share above 0: this ring holds nobody."})
    rows_for_system(AgentRollout).filter(active=True).update(active=False)
    rollout = rows_for_system(AgentRollout).create(version=release.version, percent=percent,
                                                   dynamic_group=dynamic_group, started_by_label=actor.label[:150])
    record(actor=actor, action="agentrollout.created", target=rollout, company_id=None, after=snapshot(rollout))
    forget_cached()
    return rollout


@transaction.atomic
def stop_rollout(*, actor: Actor) -> int:
    require_msp_admin(actor, what="Agent roll-outs")
    stopped = 0
    for rollout in rows_for_system(AgentRollout).filter(active=True):
        rollout.active = False
        rollout.save(update_fields=["active"])
        record(actor=actor, action="agentrollout.stopped", target=rollout, company_id=None)
        stopped += 1
    forget_cached()
    return stopped


def forget_cached() -> None:
    global _cached
    _cached = (0.0, None, None)


def _active() -> tuple[AgentRollout | None, AgentRelease | None]:
    """The active rollout and the built release, read at most every few seconds per process."""
    global _cached
    fetched_at, rollout, release = _cached
    if time.monotonic() - fetched_at > CACHE_SECONDS:
        rollout = rows_for_system(AgentRollout).filter(active=True).select_related("dynamic_group").first()
        release = current_release() if rollout is not None else None
        _cached = (time.monotonic(), rollout, release)
    return rollout, release


def no_offer_known(*, agent_version: str) -> bool:
    """True when this process knows without the database that the welcome offers no update (no roll-out,
    or the agent runs its version): a reconnect storm's welcomes then need no trip to a database thread."""
    fetched_at, rollout, release = _cached
    if time.monotonic() - fetched_at > CACHE_SECONDS:
        return False
    return rollout is None or release is None or agent_version == rollout.version or release.version != rollout.version


def update_offer_for(*, device_id: int, agent_version: str) -> dict[str, Any] | None:
    """What the welcome tells an agent about a newer version: None when it is not in the ring."""
    rollout, release = _active()
    if rollout is None or release is None or agent_version == rollout.version:
        return None
    if release.version != rollout.version:
        return None  # the server was upgraded since the rollout began: a new rollout offers the new build
    chosen = in_percentage(device_id=device_id, version=rollout.version, percent=rollout.percent) or (
        rollout.dynamic_group is not None and member_ids(rollout.dynamic_group).filter(pk=device_id).exists())
    if not chosen:
        return None
    return {"version": release.version, "wheel": release.wheel.name, "sha256": release.sha256,
            "signature": release.signature}
