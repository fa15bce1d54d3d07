"""Writes of policies and their assignments. A company's policy is its admins' (and is assigned only inside
that company); the whole MSP's policy is for admins who see every company, who alone assign at the MSP level.
Admins of a company assign any policy they see (the MSP's included) to their company, its sites, groups, dynamic
groups and devices, and exclude it there."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction

from portal.access import Actor, Role, ensure_visible, require_msp_admin, require_role, rows_for_system
from portal.policies.models import TARGET_FIELDS, Level, Policy, PolicyAssignment
from portal.tenancy.models import Company
from portal.writes import delete_row, save_changed_fields, save_new

POLICY_FIELDS = ("name", "description", "enabled")


def require_policy_writer(actor: Actor, company_id: int | None) -> None:
    if company_id is None:
        require_msp_admin(actor, what="Policies of the whole MSP")
        return
    require_role(actor, Role.ADMIN)
    ensure_visible(actor=actor, company_id=company_id)


@transaction.atomic
def create_policy(*, actor: Actor, name: str, company: Company | None = None, description: str = "",
                  enabled: bool = True) -> Policy:
    require_policy_writer(actor, company.pk if company is not None else None)
    return save_new(actor=actor, instance=Policy(company=company, name=name, description=description,
                                                 enabled=enabled))


@transaction.atomic
def update_policy(*, actor: Actor, policy: Policy, **changes: Any) -> Policy:
    require_policy_writer(actor, policy.company_id)
    save_changed_fields(actor=actor, instance=policy, changes=changes, editable=POLICY_FIELDS)
    return policy


@transaction.atomic
def delete_policy(*, actor: Actor, policy: Policy) -> None:
    """Delete a policy with what it holds (its checks, their alerts) and its assignments."""
    require_policy_writer(actor, policy.company_id)
    delete_row(actor=actor, instance=policy)


@transaction.atomic
def assign_policy(*, actor: Actor, policy: Policy, level: str, target: Any = None, order: int = 0,
                  exclude: bool = False) -> PolicyAssignment:
    """Apply ``policy`` at ``target`` (a company, site, group, dynamic group or device; none for the MSP level),
    or with ``exclude`` keep it away from a company, site or device."""
    require_role(actor, Role.ADMIN)
    if level == Level.MSP:
        require_msp_admin(actor, what="Assigning a policy to every company")
        company_id = None
    else:
        if level not in TARGET_FIELDS:
            raise ValidationError({"level": f"Assign at one of {', '.join(Level.values)}."})
        if target is None:
            raise ValidationError(f"Name the {Level(level).label.lower()} the policy applies to.")
        company_id = target.pk if level == Level.COMPANY else target.owning_company_id
        if company_id is None:  # an MSP-wide dynamic group: its members may be anywhere
            require_msp_admin(actor, what="Assigning a policy to a dynamic group of the whole MSP")
        else:
            ensure_visible(actor=actor, company_id=company_id)
    assignment = PolicyAssignment(policy=policy, level=level, company_id=company_id, order=order, exclude=exclude)
    if level not in (Level.MSP, Level.COMPANY):
        setattr(assignment, TARGET_FIELDS[level], target)
    return save_new(actor=actor, instance=assignment)


@transaction.atomic
def unassign_policy(*, actor: Actor, policyassignment: PolicyAssignment) -> None:
    require_role(actor, Role.ADMIN)
    if policyassignment.company_id is None:
        require_msp_admin(actor, what="Assignments to every company")
    else:
        ensure_visible(actor=actor, company_id=policyassignment.company_id)
    delete_row(actor=actor, instance=policyassignment)


def company_policy(*, company: Company) -> Policy:
    """The company's own policy, assigned to the company (created the first time): where its checks made one by
    one, and its default checks, go."""
    policy = rows_for_system(Policy).filter(company=company, company_default=True).first()
    if policy is None:
        policy = rows_for_system(Policy).create(company=company, name=f"{company.name} policy"[:150],
                                                company_default=True, description="The company's own checks.")
        rows_for_system(PolicyAssignment).create(policy=policy, level=Level.COMPANY, company=company)
    return policy
