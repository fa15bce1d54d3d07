"""Writes of dynamic groups. A company's group is its operators' to define; the whole MSP's (no company) is
for operators who see every company. Rules may name only companies, sites, groups and tags the writer sees."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.db.models import ProtectedError

from portal.access import Actor, Role, ensure_visible, require_role
from portal.dynamic_groups.models import DynamicGroup, MatchMode
from portal.dynamic_groups.rules import clean_rules, referenced_ids
from portal.tags.selectors import tags_for
from portal.tenancy.models import Company
from portal.tenancy.selectors import companies_for, groups_for, sites_for
from portal.writes import delete_row, save_changed_fields, save_new

GROUP_FIELDS = ("name", "description", "match", "rules")


def _require_writer(actor: Actor, company_id: int | None) -> None:
    require_role(actor, Role.OPERATOR)
    if company_id is None:
        if not actor.sees_all_companies:
            raise PermissionDenied("A dynamic group of the whole MSP needs an operator who sees all companies: "
                                   "choose one of your companies for it.")
        return
    ensure_visible(actor=actor, company_id=company_id)


def _checked_rules(actor: Actor, rules: Any) -> list[dict[str, Any]]:
    cleaned = clean_rules(rules)
    for field, rows_for in (("company", companies_for), ("site", sites_for), ("group", groups_for),
                            ("tag", tags_for)):
        wanted = referenced_ids(cleaned, field)
        if wanted and rows_for(actor=actor).filter(pk__in=wanted).count() != len(wanted):
            raise ValidationError({"rules": f"A rule names a {field} that does not exist (or is not yours)."})
    return cleaned


@transaction.atomic
def create_dynamic_group(*, actor: Actor, name: str, company: Company | None = None, rules: Any = None,
                         match: str = MatchMode.ALL, description: str = "") -> DynamicGroup:
    """Save a filter over devices under a name (a company's, or with no company the whole MSP's)."""
    _require_writer(actor, company.pk if company is not None else None)
    return save_new(actor=actor, instance=DynamicGroup(
        company=company, name=name, description=description, match=match,
        rules=_checked_rules(actor, [] if rules is None else rules), created_by_id=actor.user_id))


@transaction.atomic
def update_dynamic_group(*, actor: Actor, dynamicgroup: DynamicGroup, **changes: Any) -> DynamicGroup:
    """Rename a group or change its rules (its company is chosen once)."""
    _require_writer(actor, dynamicgroup.company_id)
    if "rules" in changes:
        changes["rules"] = _checked_rules(actor, changes["rules"])
    save_changed_fields(actor=actor, instance=dynamicgroup, changes=changes, editable=GROUP_FIELDS)
    return dynamicgroup


@transaction.atomic
def delete_dynamic_group(*, actor: Actor, dynamicgroup: DynamicGroup) -> None:
    """Delete a group that no schedule targets."""
    _require_writer(actor, dynamicgroup.company_id)
    try:
        with transaction.atomic():
            delete_row(actor=actor, instance=dynamicgroup)
    except ProtectedError as used:
        names = ", ".join(sorted({f"“{row}”" for row in used.protected_objects})[:10])
        raise ValidationError(f"The dynamic group “{dynamicgroup.name}” is the target of {names}: change those "
                              "first.") from None
