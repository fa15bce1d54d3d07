"""GraphQL subscriptions: they listen on the same realtime groups as the dashboard."""

from __future__ import annotations

from collections.abc import AsyncGenerator

import strawberry
from channels.db import database_sync_to_async
from strawberry import relay
from strawberry.types import Info

from graph.actions import ActionNode
from graph.context import actor_from
from graph.inventory import DeviceNode
from graph.monitoring import AlertNode
from monitoring.selectors import alerts_for
from portal.access import Actor
from portal.actions.models import Action
from portal.actions.selectors import actions_for
from portal.events.groups import company_group
from portal.inventory.models import Device
from portal.inventory.selectors import devices_for
from portal.tenancy.selectors import companies_for

DEVICE_EVENTS = {"device.created", "device.updated", "device.status_changed"}


@database_sync_to_async
def _visible_company_ids(actor: Actor, wanted: int | None) -> list[int]:
    companies = companies_for(actor=actor)
    if wanted is not None:
        companies = companies.filter(pk=wanted)
    return list(companies.values_list("pk", flat=True))


@database_sync_to_async
def _visible_device(actor: Actor, device_id: int) -> Device | None:
    return devices_for(actor=actor).filter(pk=device_id).first()


def _node_id(global_id: relay.GlobalID | None, type_name: str) -> int | None:
    if global_id is None:
        return None
    if global_id.type_name != type_name or not global_id.node_id.isdigit():
        return -1  # matches nothing, exactly like an id the caller may not see
    return int(global_id.node_id)


async def _device_events(info: Info, *, company_id: int | None, device_id: int | None,
                         events: set[str]) -> AsyncGenerator[Device, None]:
    actor = actor_from(info)
    if not actor.is_authenticated:
        raise PermissionError("Authentication required.")
    if device_id is not None:
        device = await _visible_device(actor, device_id)
        company_id = device.company_id if device else -1
    groups = [company_group(pk) for pk in await _visible_company_ids(actor, company_id)]
    if not groups:
        return
    async with info.context["ws"].listen_to_channel("fleet.event", groups=groups) as messages:
        async for message in messages:
            if message.get("event") not in events:
                continue
            if device_id is not None and message.get("id") != device_id:
                continue
            device = await _visible_device(actor, message["id"])
            if device is not None:
                yield device


@database_sync_to_async
def _visible_action(actor: Actor, action_id: int) -> Action | None:
    return actions_for(actor=actor).select_related("device", "company").filter(pk=action_id).first()


@database_sync_to_async
def _visible_alert(actor: Actor, alert_id: int):
    return alerts_for(actor=actor).filter(pk=alert_id).first()


@strawberry.type
class Subscription:
    @strawberry.subscription(description="A new alert opened in a company you may see (optionally one company).")
    async def alert_raised(self, info: Info, company_id: relay.GlobalID | None = None) -> AsyncGenerator[AlertNode,
                                                                                                       None]:
        actor = actor_from(info)
        if not actor.is_authenticated:
            raise PermissionError("Authentication required.")
        groups = [company_group(pk) for pk in await _visible_company_ids(actor, _node_id(company_id, "Company"))]
        if not groups:
            return
        async with info.context["ws"].listen_to_channel("fleet.event", groups=groups) as messages:
            async for message in messages:
                if message.get("event") != "alert.raised" or not isinstance(message.get("id"), int):
                    continue
                alert = await _visible_alert(actor, message["id"])
                if alert is not None:
                    yield alert

    @strawberry.subscription(description="One action: its status as it moves on, and its output while it runs.")
    async def action_updated(self, info: Info, id: relay.GlobalID) -> AsyncGenerator[ActionNode, None]:
        actor = actor_from(info)
        if not actor.is_authenticated:
            raise PermissionError("Authentication required.")
        action_id = _node_id(id, "Action")
        action = await _visible_action(actor, action_id) if action_id and action_id > 0 else None
        if action is None:
            return
        async with info.context["ws"].listen_to_channel("fleet.event",
                                                        groups=[company_group(action.company_id)]) as messages:
            async for message in messages:
                if message.get("event") not in {"action.updated", "action.output"} or message.get("id") != action_id:
                    continue
                current = await _visible_action(actor, action_id)
                if current is not None:
                    yield current
                    if current.is_finished:
                        return

    @strawberry.subscription(description="A device of a company you may see came online or went offline.")
    async def device_status_changed(self, info: Info,
                                    company_id: relay.GlobalID | None = None) -> AsyncGenerator[DeviceNode, None]:
        async for device in _device_events(info, company_id=_node_id(company_id, "Company"), device_id=None,
                                           events={"device.status_changed"}):
            yield device

    @strawberry.subscription(description="One device changed: its fields, placement or status.")
    async def device_updated(self, info: Info, id: relay.GlobalID) -> AsyncGenerator[DeviceNode, None]:
        async for device in _device_events(info, company_id=None, device_id=_node_id(id, "Device"),
                                           events=DEVICE_EVENTS):
            yield device
