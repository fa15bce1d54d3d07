"""Which checks watch which objects, from the policies that reach them: a device gets the checks of every
policy reaching it; where two set the same check (the same kind, and for service checks the same service) the
more specific assignment wins. Network gear and cameras are reached by MSP-wide, company and site assignments.

Computed for the whole fleet at each evaluation (a few queries), so a device enrolled a minute ago is watched by
its policies' checks at the next evaluation, with no job to run."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

from monitoring.models import Camera, Check, CheckKind, NetworkDevice
from portal.access import rows_for_system
from portal.policies.selectors import AppliedPolicy, policies_by_device, policies_by_place

DEVICE_KINDS = {CheckKind.AGENT_OFFLINE, CheckKind.AGENT_CPU, CheckKind.AGENT_MEMORY, CheckKind.AGENT_DISK_FREE,
                CheckKind.SERVICE_NOT_RUNNING, CheckKind.CRITICAL_PATCHES, CheckKind.SCRIPT, CheckKind.EVENT_LOG}
NETWORK_KINDS = {CheckKind.NETWORK_UNREACHABLE, CheckKind.NETWORK_CPU, CheckKind.NETWORK_STORAGE,
                 CheckKind.INTERFACE_DOWN}
CAMERA_KINDS = {CheckKind.CAMERA_DOWN, CheckKind.CAMERA_AUTH_FAILED}


def check_key(check: Check) -> tuple[str, str]:
    """What makes two checks "the same check" for precedence: the kind, and what a check of that kind watches
    (the service, the script, the event log entries)."""
    if check.kind == CheckKind.SERVICE_NOT_RUNNING:
        return check.kind, check.parameter.strip().lower()
    if check.kind == CheckKind.SCRIPT:
        return check.kind, str(check.script_id)
    if check.kind == CheckKind.EVENT_LOG:
        return check.kind, f"{check.parameter}|{check.event_source}|{check.event_id}|{check.event_level}".lower()
    return check.kind, ""


@dataclass(frozen=True)
class EffectiveCheck:
    """A check that watches an object, the policy assignment it comes from, and what it overrides."""

    check: Check
    source: AppliedPolicy
    overrides: tuple[tuple[Check, AppliedPolicy], ...] = ()


def _effective(applied: list[AppliedPolicy], checks_by_policy: dict[int, list[Check]],
               kinds: set[str]) -> dict[tuple[str, str], EffectiveCheck]:
    chosen: dict[tuple[str, str], EffectiveCheck] = {}
    for source in applied:  # most general first: a later, more specific one wins
        for check in checks_by_policy.get(source.policy_id, ()):
            if check.kind not in kinds:
                continue
            key = check_key(check)
            earlier = chosen.get(key)
            overridden = (*earlier.overrides, (earlier.check, earlier.source)) if earlier else ()
            chosen[key] = EffectiveCheck(check=check, source=source, overrides=overridden)
    return chosen


def _enabled_checks() -> dict[int, list[Check]]:
    by_policy: dict[int, list[Check]] = defaultdict(list)
    for check in rows_for_system(Check).filter(enabled=True, policy__enabled=True).order_by("pk"):
        by_policy[check.policy_id].append(check)
    return by_policy


def effective_checks_of_device(device_id: int, *, applied: list[AppliedPolicy] | None = None
                               ) -> list[EffectiveCheck]:
    """The device page's view: each check watching the device, where it comes from, what it overrides. Pass the
    policies reaching it (``applied``) when they were computed already."""
    if applied is None:
        applied = policies_by_device(device_ids=[device_id]).get(device_id, [])
    return sorted(_effective(applied, _enabled_checks(), DEVICE_KINDS).values(), key=lambda e: e.check.name)


def watched_objects() -> dict[int, set[int]]:
    """check id → the ids of the objects it watches (devices, network devices or cameras, by its kind)."""
    checks_by_policy = _enabled_checks()
    if not checks_by_policy:
        return {}
    watched: dict[int, set[int]] = defaultdict(set)
    for device_id, applied in policies_by_device().items():
        for effective in _effective(applied, checks_by_policy, DEVICE_KINDS).values():
            watched[effective.check.pk].add(device_id)
    for model, kinds in ((NetworkDevice, NETWORK_KINDS), (Camera, CAMERA_KINDS)):
        rows = list(rows_for_system(model).values_list("pk", "company_id", "site_id"))
        by_place = policies_by_place((company_id, site_id) for _, company_id, site_id in rows)
        for pk, company_id, site_id in rows:
            for effective in _effective(by_place[(company_id, site_id)], checks_by_policy, kinds).values():
                watched[effective.check.pk].add(pk)
    return watched
