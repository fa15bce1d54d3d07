"""Shared set-up for the patch tests: a policy with patching, assigned where a test wants it."""

from __future__ import annotations

from typing import Any

from portal.access import system_actor
from portal.inventory.models import AgentCredential, Device
from portal.patching import services
from portal.patching.models import PatchPolicy
from portal.policies.models import Level, Policy
from portal.policies.services import assign_policy, create_policy

SYSTEM = system_actor("test")


def patch_policy(*, name: str, company: Any = None, level: str = Level.COMPANY, target: Any = None,
                 windows: list[dict[str, Any]] | None = None, **patching: Any) -> PatchPolicy:
    """A policy (the MSP's when ``company`` is None) with patching on, assigned at ``level``."""
    policy: Policy = create_policy(actor=SYSTEM, name=name, company=company)
    settings = services.set_patching(actor=SYSTEM, policy=policy, **patching)
    assign_policy(actor=SYSTEM, policy=policy, level=level,
                  target=target if target is not None or level == Level.MSP else company)
    for window in windows or []:
        services.add_patch_window(actor=SYSTEM, policy=policy, **window)
    return settings


def with_agent(device: Device) -> Device:
    """Give a device an agent credential (the devices our agent reports patches for)."""
    AgentCredential.objects.create(device=device, key_id=f"{device.pk:024x}", secret_digest="0" * 64)
    return device
