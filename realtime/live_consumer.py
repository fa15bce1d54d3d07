"""The live dashboard socket: pushes the partials the pages render, swapped out-of-band by htmx."""

from __future__ import annotations

from typing import Any

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncWebsocketConsumer
from django.template.loader import render_to_string

from portal.access import Actor
from portal.inventory.selectors import devices_for
from portal.tenancy.selectors import companies_for
from portal.web.resources import DEVICES
from portal.web.views import row_cells
from realtime.groups import company_group
from realtime.relay import ensure_relay_running

DEVICE_EVENTS = {"device.status_changed", "device.updated", "device.created"}


@database_sync_to_async
def _company_groups(actor: Actor) -> list[str]:
    return [company_group(pk) for pk in companies_for(actor=actor).values_list("pk", flat=True)]


@database_sync_to_async
def _device_fragments(actor: Actor, device_id: int) -> str | None:
    """The device's list row and status badge, re-read through the actor's scope (None if not visible)."""
    device = devices_for(actor=actor).filter(pk=device_id).first()
    if device is None:
        return None
    row = render_to_string("web/partials/_row.html",
                           {"resource": DEVICES, "obj": device, "cells": row_cells(DEVICES, device), "oob": True})
    badge = render_to_string("web/partials/_device_status.html", {"device": device, "oob": True})
    # htmx 2 parses a pushed message inside a <template>, where a bare <tr> is valid, so no wrapper.
    return row + badge


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
        if message.get("event") not in DEVICE_EVENTS or not isinstance(message.get("id"), int):
            return
        html = await _device_fragments(self.actor, message["id"])
        if html is not None:
            await self.send(text_data=html)
