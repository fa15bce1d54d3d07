"""Reads of policies, and the effective policy of devices and places: which policies apply, from the most
general assignment to the most specific, with exclusions applied. Computed when read, in a few queries for the
whole fleet (one per dynamic group assigned)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass

from django.db.models import QuerySet

from portal.access import Actor, visible_to
from portal.dynamic_groups.selectors import group_condition
from portal.inventory.models import Device
from portal.policies.models import LEVEL_RANK, Level, Policy, PolicyAssignment


@dataclass(frozen=True)
class AppliedPolicy:
    """One policy reaching a device (or a place) through one assignment."""

    policy_id: int
    policy_name: str
    level: str
    order: int
    assignment_id: int
    target: str

    @property
    def rank(self) -> tuple[int, int, int]:
        """Sorts from the most general to the most specific: later ones win."""
        return LEVEL_RANK[self.level], self.order, self.assignment_id


def policies_for(*, actor: Actor) -> QuerySet[Policy]:
    return visible_to(Policy.objects.select_related("company"), actor)


def assignments_for(*, actor: Actor) -> QuerySet[PolicyAssignment]:
    return visible_to(PolicyAssignment.objects.select_related("policy", "company", "site", "group", "dynamic_group",
                                                              "device"), actor)


def _applied(assignment: PolicyAssignment) -> AppliedPolicy:
    return AppliedPolicy(policy_id=assignment.policy_id, policy_name=assignment.policy.name, level=assignment.level,
                         order=assignment.order, assignment_id=assignment.pk, target=assignment.target_label)


class _Assignments:
    """Every assignment of the enabled policies, indexed by what it targets."""

    def __init__(self) -> None:
        self.by_level: dict[str, dict[int | None, list[AppliedPolicy]]] = defaultdict(lambda: defaultdict(list))
        self.excluded: dict[str, dict[int, set[int]]] = defaultdict(lambda: defaultdict(set))
        self.dynamic: list[tuple[AppliedPolicy, object]] = []
        rows = PolicyAssignment.objects.filter(policy__enabled=True).select_related(
            "policy", "company", "site", "group", "dynamic_group", "device")
        for assignment in rows:
            applied = _applied(assignment)
            if assignment.exclude:
                target = getattr(assignment, f"{assignment.level}_id")
                self.excluded[assignment.level][target].add(assignment.policy_id)
            elif assignment.level == Level.MSP:
                self.by_level[Level.MSP][None].append(applied)
            elif assignment.level == Level.DYNAMIC_GROUP:
                self.dynamic.append((applied, assignment.dynamic_group))
            else:
                self.by_level[assignment.level][getattr(assignment, f"{assignment.level}_id")].append(applied)

    def for_place(self, *, company_id: int, site_id: int | None, group_id: int | None = None,
                  device_id: int | None = None, dynamic: Iterable[AppliedPolicy] = ()) -> list[AppliedPolicy]:
        found = [*self.by_level[Level.MSP][None], *self.by_level[Level.COMPANY][company_id],
                 *self.by_level[Level.SITE][site_id], *dynamic]
        if group_id is not None:
            found += self.by_level[Level.GROUP][group_id]
        if device_id is not None:
            found += self.by_level[Level.DEVICE][device_id]
        excluded = (self.excluded[Level.COMPANY][company_id] | self.excluded[Level.SITE][site_id]
                    | (self.excluded[Level.DEVICE][device_id] if device_id is not None else set()))
        return sorted((applied for applied in found if applied.policy_id not in excluded), key=lambda a: a.rank)


def policies_by_device(*, device_ids: Iterable[int] | None = None) -> dict[int, list[AppliedPolicy]]:
    """device id → the policies reaching it, most general first (a later one wins where two set the same item),
    for every device or the given ones."""
    index = _Assignments()
    devices = Device.objects.all() if device_ids is None else Device.objects.filter(pk__in=list(device_ids))
    members: list[tuple[AppliedPolicy, set[int]]] = [
        (applied, set(devices.filter(group_condition(group)).values_list("pk", flat=True)))
        for applied, group in index.dynamic]
    return {pk: index.for_place(company_id=company_id, site_id=site_id, group_id=group_id, device_id=pk,
                                dynamic=[applied for applied, ids in members if pk in ids])
            for pk, company_id, site_id, group_id in devices.values_list("pk", "company_id", "site_id", "group_id")}


def policies_by_place(places: Iterable[tuple[int, int | None]]) -> dict[tuple[int, int | None], list[AppliedPolicy]]:
    """(company id, site id) → the policies reaching things placed there that are not devices (network gear,
    cameras): MSP-wide, company and site assignments."""
    index = _Assignments()
    return {place: index.for_place(company_id=place[0], site_id=place[1]) for place in set(places)}
