"""The live dashboard socket: pushes the partials the pages render, swapped out-of-band by htmx."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qs

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncWebsocketConsumer
from django.template.loader import render_to_string

from connectors.selectors import sync_runs_for
from dashboard.charts import device_charts
from dashboard.views import row_cells, shown_columns
from monitoring.selectors import alerts_for, cameras_for, network_devices_for, network_interfaces_for
from portal.access import Actor, Role, is_msp_admin
from portal.actions.selectors import actions_for, batch_summary, batches_for
from portal.events.groups import company_group, device_watch_group, msp_group
from portal.events.relay import ensure_relay_running
from portal.events.watching import RENEW_SECONDS, mark_watched
from portal.inventory.selectors import devices_for
from portal.pages import resource
from portal.tenancy.selectors import companies_for
from realtime.rights import FollowsRights

logger = logging.getLogger(__name__)
DEVICE_EVENTS = {"device.status_changed", "device.updated", "device.created"}
ACTION_EVENTS = {"action.updated", "action.output"}


@database_sync_to_async
def _company_groups(actor: Actor) -> list[str]:
    groups = [company_group(pk) for pk in companies_for(actor=actor).values_list("pk", flat=True)]
    return [*groups, msp_group()] if is_msp_admin(actor) else groups


def _watched_device_id(query_string: bytes) -> int | None:
    """``?watch=device:<id>`` from a device page; anything else watches nothing."""
    values = parse_qs(query_string.decode("latin-1")).get("watch", [])
    kind, _, raw_id = (values[0] if values else "").partition(":")
    return int(raw_id) if kind == "device" and raw_id.isdigit() and len(raw_id) < 19 else None


@database_sync_to_async
def _may_watch_device(actor: Actor, device_id: int) -> bool:
    return devices_for(actor=actor).filter(pk=device_id).exists()


def _row(actor: Actor, slug: str, obj: Any, *, oob: bool) -> str:
    """An object's list row, as the list page of its record type renders it for this user (their columns)."""
    kind = resource(slug)
    cells = row_cells(kind, obj, shown_columns(actor, kind))
    return render_to_string("web/partials/_row.html", {"resource": kind, "obj": obj, "cells": cells, "oob": oob})


def _device_fragments(actor: Actor, device_id: int, event: str) -> str | None:
    """The device's list row and status badge, re-read through the actor's scope (None if not visible)."""
    device = devices_for(actor=actor).filter(pk=device_id).first()
    if device is None:
        return None
    row = _row(actor, "devices", device, oob=True)
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
    html += _row(actor, "actions", action, oob=True)
    html += render_to_string("web/partials/_action_timeline.html", context)
    if with_output or action.is_finished:
        html += render_to_string("web/partials/_action_output.html", context)
    if action.batch_id is not None:
        html += _batch_fragment(actor, action.batch)
    return html


def _metrics_fragment(actor: Actor, device_id: int, event: str) -> str | None:
    """The device page's CPU and memory card, extended with the heartbeat just stored."""
    device = devices_for(actor=actor).filter(pk=device_id).first()
    if device is None:
        return None
    return render_to_string("web/partials/_device_metrics.html",
                            {"object": device, "charts": device_charts(actor=actor, device=device), "oob": True})


def _sync_run_fragments(actor: Actor, run_id: int, event: str) -> str | None:
    """A connector's latest-sync card: the progress bar while it runs, the summary when it ends."""
    run = sync_runs_for(actor=actor).select_related("connector").filter(pk=run_id).first()
    if run is None:
        return None
    return render_to_string("web/partials/_sync_progress.html", {"connector": run.connector, "run": run, "oob": True})


def _import_notice(actor: Actor, company_id: int, event: str) -> str | None:
    """A sync changed a company's records: offer to refresh the page (new rows, other sort order)."""
    company = companies_for(actor=actor).filter(pk=company_id).first()
    if company is None:
        return None
    return render_to_string("web/partials/_live_notice.html", {"company": company, "oob": True})


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
    row = _row(actor, "network", device, oob=True)
    interfaces = network_interfaces_for(actor=actor).filter(device=device)
    status = render_to_string("web/partials/_network_status.html",
                              {"object": device, "interface_count": interfaces.count(), "oob": True})
    return row + status + render_to_string("web/partials/_network_interfaces.html",
                                           {"device": device, "interfaces": interfaces, "oob": True})


def _camera_fragments(actor: Actor, camera_id: int, event: str) -> str | None:
    camera = cameras_for(actor=actor).filter(pk=camera_id).first()
    if camera is None:
        return None
    return _row(actor, "cameras", camera, oob=True) \
        + render_to_string("web/partials/_camera_status.html", {"object": camera, "oob": True})


def _alert_fragments(actor: Actor, alert_id: int, event: str) -> str | None:
    """A new alert arrives at the top of the alert list; a changed one replaces its row."""
    new = event == "alert.raised"
    alert = alerts_for(actor=actor).filter(pk=alert_id).first()
    if alert is None:
        return None
    row = _row(actor, "alerts", alert, oob=not new)
    return f'<tbody hx-swap-oob="afterbegin:#alerts-rows">{row}</tbody>' if new else row


# What each event pushes: the partials of the pages that show the object, re-read through the actor's scope.
RENDERERS: dict[str, Callable[[Actor, int, str], str | None]] = {
    **dict.fromkeys(DEVICE_EVENTS, _device_fragments),
    "device.metrics": _metrics_fragment,
    **dict.fromkeys(ACTION_EVENTS, _action_fragments),
    "actionbatch.updated": _batch_fragments,
    "networkdevice.polled": _network_fragments,
    "camera.checked": _camera_fragments,
    "alert.raised": _alert_fragments,
    "alert.updated": _alert_fragments,
    "syncrun.updated": _sync_run_fragments,
    "company.imported": _import_notice,
}


class LiveConsumer(FollowsRights, AsyncWebsocketConsumer):
    """A signed-in browser on our own pages. Groups come from the actor's companies, never from the client."""

    groups_joined: list[str]

    async def connect(self) -> None:
        actor: Actor | None = self.scope.get("actor")
        if actor is None or not actor.is_authenticated or actor.via_token:
            await self.close()  # session only (origin checked by the middleware): HTTP 403
            return
        self.actor = actor
        self.pending: dict[tuple[str, int], dict[str, Any]] = {}
        self.wakeup = asyncio.Event()
        self.renderer_task = asyncio.create_task(self._render_pending())
        self.groups_joined = await _company_groups(actor)
        self.watch_renewal: asyncio.Task | None = None
        device_id = _watched_device_id(self.scope.get("query_string", b""))
        if device_id is not None and await _may_watch_device(actor, device_id):
            self.groups_joined.append(device_watch_group(device_id))
            self.watch_renewal = asyncio.create_task(self._keep_watching(device_id))
        for group in self.groups_joined:
            await self.channel_layer.group_add(group, self.channel_name)
        ensure_relay_running()
        await self.accept()
        await self.follow_rights()

    async def _keep_watching(self, device_id: int) -> None:
        while True:
            await database_sync_to_async(mark_watched)(device_id=device_id)
            await asyncio.sleep(RENEW_SECONDS)

    async def disconnect(self, code: int) -> None:
        if getattr(self, "renderer_task", None) is not None:
            self.renderer_task.cancel()
        if getattr(self, "watch_renewal", None) is not None:
            self.watch_renewal.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self.watch_renewal
        for group in getattr(self, "groups_joined", []):
            await self.channel_layer.group_discard(group, self.channel_name)
        await self.stop_following_rights()

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        """The page sends nothing the server acts on; anything received is ignored."""

    async def dispatch(self, message: dict[str, Any]) -> None:
        # Channels closes stale database connections (on the one thread for sync code) before every
        # handler; queued behind a render, that would make each event wait for the previous push and
        # defeat the coalescing below. Queueing an event touches no database, so it goes straight in.
        if message.get("type") == "fleet.event":
            await self.fleet_event(message)
            return
        await super().dispatch(message)

    async def fleet_event(self, message: dict[str, Any]) -> None:
        """Queue the push; an object already waiting keeps its place and is rendered once, at its latest
        state (a device flapping, an action streaming output), instead of a queue of stale fragments."""
        if message.get("event") not in RENDERERS or not isinstance(message.get("id"), int):
            return
        self.pending[(message["event"], message["id"])] = message
        self.wakeup.set()

    async def _render_pending(self) -> None:
        """One render at a time, in arrival order: each reads newer state than the one before, so a slow
        render can never overwrite a fresher fragment."""
        while True:
            await self.wakeup.wait()
            self.wakeup.clear()
            while self.pending:
                event, object_id = key = next(iter(self.pending))
                del self.pending[key]
                try:
                    html = await database_sync_to_async(RENDERERS[event])(self.actor, object_id, event)
                except Exception:  # one broken fragment must not end the page's live updates
                    logger.exception("could not render %s %s", event, object_id)
                    continue
                if html is not None:
                    await self.send(text_data=html)
