"""The live dashboard socket: pushes the partials the pages render, swapped out-of-band by htmx."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncWebsocketConsumer
from django.template.loader import render_to_string

from monitoring.selectors import alerts_for, cameras_for, network_devices_for, network_interfaces_for
from portal.access import Actor, Role
from portal.actions.selectors import actions_for, batch_summary, batches_for
from portal.inventory.selectors import devices_for
from portal.tenancy.selectors import companies_for
from portal.web.resources import ACTIONS, ALERTS, CAMERAS, DEVICES, NETWORK
from portal.web.views import row_cells
from realtime.groups import company_group
from realtime.relay import ensure_relay_running

DEVICE_EVENTS = {"device.status_changed", "device.updated", "device.created"}
ACTION_EVENTS = {"action.updated", "action.output"}


@database_sync_to_async
def _company_groups(actor: Actor) -> list[str]:
    return [company_group(pk) for pk in companies_for(actor=actor).values_list("pk", flat=True)]


def _device_fragments(actor: Actor, device_id: int, event: str) -> str | None:
    """The device's list row and status badge, re-read through the actor's scope (None if not visible)."""
    device = devices_for(actor=actor).filter(pk=device_id).first()
    if device is None:
        return None
    row = render_to_string("web/partials/_row.html",
                           {"resource": DEVICES, "obj": device, "cells": row_cells(DEVICES, device), "oob": True})
    badge = render_to_string("web/partials/_device_status.html", {"device": device, "oob": True})
    # htmx 2 parses a pushed message inside a <template>, where a bare <tr> is valid, so no wrapper.
    return row + badge


def _action_fragments(actor: Actor, action_id: int, event: str) -> str | None:
    """An action's status badge, history row, timeline and output (and its batch's progress)."""
    action = actions_for(actor=actor).filter(pk=action_id).first()
    if action is None:
        return None
    with_output = event == "action.output"
    context = {"action": action, "oob": True, "can_cancel": actor.has_role(Role.OPERATOR)}
    html = render_to_string("web/partials/_action_status.html", context)
    html += render_to_string("web/partials/_action_controls.html", context)
    html += render_to_string("web/partials/_row.html", {"resource": ACTIONS, "obj": action,
                                                        "cells": row_cells(ACTIONS, action), "oob": True})
    html += render_to_string("web/partials/_action_timeline.html", context)
    if with_output or action.is_finished:
        html += render_to_string("web/partials/_action_output.html", context)
    if action.batch_id is not None:
        html += _batch_fragment(actor, action.batch)
    return html


def _batch_fragment(actor: Actor, batch: object) -> str:
    return render_to_string("web/partials/_batch_progress.html",
                            {"batch": batch, "summary": batch_summary(actor=actor, batch=batch), "oob": True})


def _batch_fragments(actor: Actor, batch_id: int, event: str) -> str | None:
    batch = batches_for(actor=actor).filter(pk=batch_id).first()
    return None if batch is None else _batch_fragment(actor, batch)


def _network_fragments(actor: Actor, device_id: int, event: str) -> str | None:
    """A polled network device's list row and its interfaces with the new rates."""
    device = network_devices_for(actor=actor).filter(pk=device_id).first()
    if device is None:
        return None
    row = render_to_string("web/partials/_row.html",
                           {"resource": NETWORK, "obj": device, "cells": row_cells(NETWORK, device), "oob": True})
    interfaces = network_interfaces_for(actor=actor).filter(device=device)
    return row + render_to_string("web/partials/_network_interfaces.html",
                                  {"device": device, "interfaces": interfaces, "oob": True})


def _camera_fragments(actor: Actor, camera_id: int, event: str) -> str | None:
    camera = cameras_for(actor=actor).filter(pk=camera_id).first()
    if camera is None:
        return None
    return render_to_string("web/partials/_row.html",
                            {"resource": CAMERAS, "obj": camera, "cells": row_cells(CAMERAS, camera), "oob": True})


def _alert_fragments(actor: Actor, alert_id: int, event: str) -> str | None:
    """A new alert arrives at the top of the alert list; a changed one replaces its row."""
    new = event == "alert.raised"
    alert = alerts_for(actor=actor).filter(pk=alert_id).first()
    if alert is None:
        return None
    row = render_to_string("web/partials/_row.html", {"resource": ALERTS, "obj": alert,
                                                      "cells": row_cells(ALERTS, alert), "oob": not new})
    return f'<tbody hx-swap-oob="afterbegin:#alerts-rows">{row}</tbody>' if new else row


# What each event pushes: the partials of the pages that show the object, re-read through the actor's scope.
RENDERERS: dict[str, Callable[[Actor, int, str], str | None]] = {
    **dict.fromkeys(DEVICE_EVENTS, _device_fragments),
    **dict.fromkeys(ACTION_EVENTS, _action_fragments),
    "actionbatch.updated": _batch_fragments,
    "networkdevice.polled": _network_fragments,
    "camera.checked": _camera_fragments,
    "alert.raised": _alert_fragments,
    "alert.updated": _alert_fragments,
}


class LiveConsumer(AsyncWebsocketConsumer):
    """A signed-in browser on our own pages. Groups come from the actor's companies, never from the client."""

    groups_joined: list[str]

    async def connect(self) -> None:
        actor: Actor | None = self.scope.get("actor")
        if actor is None or not actor.is_authenticated or actor.via_token:
            await self.close()  # session only (origin checked by the middleware): HTTP 403
            return
        self.actor = actor
        self.groups_joined = await _company_groups(actor)
        for group in self.groups_joined:
            await self.channel_layer.group_add(group, self.channel_name)
        ensure_relay_running()
        await self.accept()

    async def disconnect(self, code: int) -> None:
        for group in getattr(self, "groups_joined", []):
            await self.channel_layer.group_discard(group, self.channel_name)

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        """The page sends nothing the server acts on; anything received is ignored."""

    async def fleet_event(self, message: dict[str, Any]) -> None:
        renderer = RENDERERS.get(message.get("event"))
        if renderer is None or not isinstance(message.get("id"), int):
            return
        html = await database_sync_to_async(renderer)(self.actor, message["id"], message["event"])
        if html is not None:
            await self.send(text_data=html)
