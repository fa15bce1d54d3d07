"""The approval engine: for each update a device needs, whether it is approved (and from when), waits for a
technician, or never installs, and why.

What decides, strongest first:
1. no patch policy reaches the device: nothing is decided for it (``unmanaged``);
2. a third-party application outside the software catalogue, or with applications off: left out (``excluded``);
3. the policy's deny list: never (``denied``), whatever else says;
4. a technician's decision for this one device, then for the device's company;
5. the policy's rules, first match: approve (at once or after N days: ``deferred`` until then), deny, or manual;
   an update no rule matches waits for a technician (``awaiting``).

A verdict depends on (policy, company, update) but for device overrides, so the fleet's three million
(device, update) pairs cost a few thousand verdicts and a dictionary lookup each.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from itertools import groupby
from operator import itemgetter

from django.db import connection
from django.utils import timezone

from portal.actions.models import SoftwareItem
from portal.inventory.models import Device, PatchUpdate, PendingPatch, UpdateCategory, UpdateSeverity, UpdateSource
from portal.patching.models import Decision, PatchApproval, PatchPolicy
from portal.patching.rules import denied_by, describe_rule, matching_rule
from portal.policies.selectors import policies_by_device


class State:
    APPROVED = "approved"
    DEFERRED = "deferred"
    AWAITING = "awaiting"
    DENIED = "denied"
    UNMANAGED = "unmanaged"
    EXCLUDED = "excluded"


STATE_LABELS = {State.APPROVED: "Approved", State.DEFERRED: "Deferred", State.AWAITING: "Awaiting approval",
                State.DENIED: "Denied", State.UNMANAGED: "No patch policy", State.EXCLUDED: "Left out"}
# What compliance counts as still needed (denied and left-out updates are not).
NEEDED = (State.APPROVED, State.DEFERRED, State.AWAITING, State.UNMANAGED)
CRITICAL_CATEGORIES = (UpdateCategory.SECURITY, UpdateCategory.CRITICAL)
LINUX_PACKAGES = (UpdateSource.APT, UpdateSource.DNF)


@dataclass(frozen=True)
class Verdict:
    state: str
    reason: str
    install_from: datetime | None = None

    @property
    def label(self) -> str:
        return STATE_LABELS[self.state]


@dataclass(frozen=True)
class UpdateFacts:
    pk: int
    source: str
    identifier: str
    category: str
    severity: str
    age_reference: datetime
    critical: bool = False  # a security or critical update, or of critical severity: what compliance counts


class Catalogue:
    """The software catalogue's package names per update source (third-party applications)."""

    def __init__(self) -> None:
        self.names: dict[str, set[str]] = {source: set() for source in UpdateSource.values}
        for winget, apt, dnf, brew in SoftwareItem.objects.values_list("winget_id", "apt_name", "dnf_name",
                                                                       "brew_name"):
            for source, name in ((UpdateSource.WINGET, winget), (UpdateSource.APT, apt), (UpdateSource.DNF, dnf),
                                 (UpdateSource.BREW, brew)):
                if name:
                    self.names[source].add(name.lower())

    def holds(self, update: UpdateFacts) -> bool:
        name = update.identifier.lower()
        if update.source == UpdateSource.DNF:
            name = name.rsplit(".", 1)[0]  # name.arch
        return name in self.names.get(update.source, set())


def verdict(*, policy: PatchPolicy | None, update: UpdateFacts, company_decision: str | None,
            device_decision: str | None, catalogue: Catalogue, now: datetime) -> Verdict:
    """The verdict on one update for one device (see the module's order of what decides)."""
    if policy is None:
        return Verdict(State.UNMANAGED, "No patch policy reaches this device.")
    category = update.category
    if category == UpdateCategory.APPLICATION or (
            update.source in LINUX_PACKAGES and policy.include_applications and category != UpdateCategory.SECURITY
            and catalogue.holds(update)):
        if not policy.include_applications:
            return Verdict(State.EXCLUDED, f"Third-party applications are off in {policy.policy}.")
        if not catalogue.holds(update):
            return Verdict(State.EXCLUDED, "Not an application of the software catalogue.")
        category = UpdateCategory.APPLICATION
    entry = denied_by(policy.deny_list, update.identifier)
    if entry is not None:
        return Verdict(State.DENIED, f"On the deny list of {policy.policy} ({entry}).")
    for decision, whom in ((device_decision, "this device"), (company_decision, "the company")):
        if decision is not None:
            state = State.APPROVED if decision == Decision.APPROVED else State.DENIED
            return Verdict(state, f"{Decision(decision).label} for {whom} by a technician.")
    found = matching_rule(policy.rules, category=category, severity=update.severity)
    if found is None:
        return Verdict(State.AWAITING, "No rule of the policy matches: a technician decides.")
    number, rule = found
    reason = f"Rule {number} of {policy.policy}: {describe_rule(rule)}."
    if rule["action"] == "deny":
        return Verdict(State.DENIED, reason)
    if rule["action"] == "manual":
        return Verdict(State.AWAITING, reason)
    install_from = update.age_reference + timedelta(days=rule["defer_days"])
    if install_from > now:
        return Verdict(State.DEFERRED, reason, install_from=install_from)
    return Verdict(State.APPROVED, reason)


def patch_policies_by_device(device_ids: Iterable[int] | None = None) -> dict[int, PatchPolicy | None]:
    """device id → the patching that applies to it: the most specific policy reaching it with patching on."""
    enabled = {patching.policy_id: patching for patching in
               PatchPolicy.objects.filter(enabled=True, policy__enabled=True).select_related("policy")}
    chosen: dict[int, PatchPolicy | None] = {}
    for device_id, applied in policies_by_device(device_ids=device_ids).items():
        with_patching = [entry for entry in applied if entry.policy_id in enabled]
        chosen[device_id] = enabled[with_patching[-1].policy_id] if with_patching else None
    return chosen


def update_facts(update_ids: Iterable[int] | None = None) -> dict[int, UpdateFacts]:
    rows = PatchUpdate.objects.all() if update_ids is None else PatchUpdate.objects.filter(pk__in=list(update_ids))
    return {pk: UpdateFacts(pk, source, identifier, category, severity, released or first_seen,
                            critical=category in CRITICAL_CATEGORIES or severity == UpdateSeverity.CRITICAL)
            for pk, source, identifier, category, severity, released, first_seen in rows.values_list(
                "pk", "source", "identifier", "category", "severity", "released_at", "first_seen_at")}


@dataclass(frozen=True)
class DeviceVerdicts:
    device_id: int
    policy: PatchPolicy | None
    verdicts: list[tuple[UpdateFacts, Verdict]]


def _pending_pairs(device_ids: list[int] | None) -> Iterator[tuple[int, int]]:
    """(device id, update id) of every pending update, in device order, read in chunks: three million pairs
    through the ORM would cost seconds of model building."""
    table = connection.ops.quote_name(PendingPatch._meta.db_table)
    if device_ids is None:
        chunks: list[list[int] | None] = [None]
    else:
        ordered = sorted(device_ids)
        chunks = [ordered[start:start + 5000] for start in range(0, len(ordered), 5000)]
    for chunk in chunks:
        where, parameters = "", []
        if chunk is not None:
            where = f"WHERE device_id IN ({', '.join(['%s'] * len(chunk))})"
            parameters = chunk
        with connection.cursor() as cursor:
            cursor.execute(f"SELECT device_id, update_id FROM {table} {where} ORDER BY device_id",  # noqa: S608
                           parameters)
            while rows := cursor.fetchmany(20_000):
                yield from rows


def evaluate(*, device_ids: Iterable[int] | None = None, now: datetime | None = None) -> Iterator[DeviceVerdicts]:
    """The verdict on every update each device needs (every device, or the given ones), device by device."""
    now = now or timezone.now()
    wanted = None if device_ids is None else list(device_ids)
    policies = patch_policies_by_device(device_ids=wanted)
    devices = Device.objects.all() if wanted is None else Device.objects.filter(pk__in=wanted)
    company_of = dict(devices.values_list("pk", "company_id"))
    facts = update_facts()
    catalogue = Catalogue()
    company_decisions = {(company_id, update_id): decision for company_id, update_id, decision in
                         PatchApproval.objects.filter(device__isnull=True).values_list("company_id", "update_id",
                                                                                       "decision")}
    overrides: dict[int, dict[int, str]] = {}
    for device_id, update_id, decision in PatchApproval.objects.filter(device__isnull=False).values_list(
            "device_id", "update_id", "decision"):
        overrides.setdefault(device_id, {})[update_id] = decision
    # A verdict depends on the policy, the update and the company's decision on it (rarely any): memoised on
    # those, the fleet's millions of pairs cost a few thousand verdicts.
    memo: dict[tuple[int, int, str | None], Verdict] = {}

    def judged(device_id: int, update_ids: Iterable[int]) -> DeviceVerdicts:
        policy = policies.get(device_id)
        policy_key = policy.pk if policy is not None else 0
        company_id = company_of[device_id]
        own = overrides.get(device_id)
        verdicts = []
        for update_id in update_ids:
            update = facts.get(update_id)
            if update is None:
                continue
            if own is not None and update_id in own:
                found = verdict(policy=policy, update=update, company_decision=None, device_decision=own[update_id],
                                catalogue=catalogue, now=now)
            else:
                decision = company_decisions.get((company_id, update_id)) if company_decisions else None
                key = (policy_key, update_id, decision)
                found = memo.get(key)
                if found is None:
                    found = memo[key] = verdict(policy=policy, update=update, company_decision=decision,
                                                device_decision=None, catalogue=catalogue, now=now)
            verdicts.append((update, found))
        return DeviceVerdicts(device_id, policy, verdicts)

    seen: set[int] = set()
    for device_id, rows in groupby(_pending_pairs(wanted), key=itemgetter(0)):
        if device_id in company_of:
            seen.add(device_id)
            yield judged(device_id, (update_id for _, update_id in rows))
    for device_id in company_of:  # devices that need nothing
        if device_id not in seen:
            yield DeviceVerdicts(device_id, policies.get(device_id), [])
