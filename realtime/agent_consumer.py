"""The agent socket: bearer-token handshake, validated frames, heartbeats batched, revocation honoured."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import logging
import time
import uuid
from typing import Any

from autobahn.exception import Disconnected
from channels.db import database_sync_to_async
from channels.exceptions import ChannelFull
from channels.generic.websocket import AsyncWebsocketConsumer
from django.conf import settings
from django.core.exceptions import ObjectDoesNotExist

from portal.actions import delivery
from portal.actions.delivery import AgentReport
from portal.actions.signing import key_endorsement, public_key_text
from portal.events.groups import agent_group
from portal.events.relay import ensure_relay_running
from portal.inventory.pending import PendingInventory, Stored
from portal.inventory.telemetry import (
    HEARTBEATS,
    AgentHello,
    UpdateScan,
    agent_connection_of,
    heartbeat_from,
    mark_agent_disconnected,
)
from portal.operations.rollouts import no_offer_known, update_offer_for
from portal.ratelimit import Limit, ProcessWindows
from realtime import agent_metrics
from realtime.action_writer import ACTIONS
from realtime.agent_db import agent_db
from realtime.agent_protocol import (
    REMOTE_FRAMES,
    ActionOutputFrame,
    ActionRefusedFrame,
    ActionResultFrame,
    ActionStartedFrame,
    FrameError,
    HeartbeatFrame,
    Hello,
    InventoryFrame,
    UpdateScanFrame,
    parse_frame,
)
from realtime.dispatch import DirectDispatch
from realtime.hello_writer import HELLOS
from realtime.inventory_writer import INVENTORIES
from realtime.reconnect_pacing import counted_spread, reconnect_spread
from realtime.release_on_exit import release_held_devices_at_exit
from realtime.remote_protocol import MAX_CHUNK, WINDOW, pack_for_agent, unpack_from_agent
from realtime.token_checker import TokenChecker

logger = logging.getLogger(__name__)

# Repeated garbage. 1008 ("policy violation") is the standard code, but daphne (autobahn) lets an
# application send only 1000 or 3000–4999, so the socket closes with 4008, documented as the same.
CLOSE_POLICY = 4008
CLOSE_REVOKED = 4401  # token revoked or device deleted: re-enroll
CLOSE_REPLACED = 4409  # a newer connection of the same device's token took over (one socket per device)
CLOSE_NO_HELLO = 4408  # connected but never said hello
CLOSE_TRY_LATER = 4503  # the server was too busy to check the token in time: reconnect with backoff
# The agent gives up on a handshake after 15 s. One that waited longer for the database thread (a
# reconnect storm) is answered without touching the database: its client has most likely gone, and
# checking it would only delay the handshakes behind it.
STALE_HANDSHAKE_SECONDS = 15.0
STALE = "stale"
BAD_FRAMES_BEFORE_CLOSE = 5
RATE_PER_SECOND = 5.0
RATE_BURST = 20.0
HELLO_WITHIN_SECONDS = 15
# Connects per device: an agent backs off to one attempt a minute; a token reused in a loop is refused.
# Counted per server process (see ProcessWindows): a shared-cache write per handshake cost more than the
# rest of the handshake together during a reconnect storm.
CONNECT_LIMIT = Limit(count=20, seconds=60)
CONNECTS = ProcessWindows(limit=CONNECT_LIMIT)
_LEAVING: set[asyncio.Future] = set()
# Inventories per socket: one on connect and one per change is what the agent sends; more is a flood.
INVENTORY_BURST = 3
INVENTORY_EVERY_SECONDS = 60
FLUSH_SECONDS = 1.0
# Remote sessions' control frames (replies, acknowledgements) come faster than the general limit allows
# during a transfer; their data frames are bounded by each stream's window instead of a frame rate.
REMOTE_RATE_PER_SECOND = 200.0
REMOTE_RATE_BURST = 400.0
# Channel layers drop group memberships after a day (group_expiry); agents stay connected for weeks.
REJOIN_GROUP_SECONDS = 3600

_flusher: asyncio.Task | None = None


def _bearer(scope: dict[str, Any]) -> str | None:
    for key, value in scope.get("headers", []):
        if key.lower() == b"authorization":
            scheme, _, credentials = value.decode("latin-1").partition(" ")
            if scheme.lower() == "bearer" and credentials.strip():
                return credentials.strip()
    return None


async def _flush_heartbeats_forever() -> None:
    while True:
        await asyncio.sleep(FLUSH_SECONDS)
        if len(HEARTBEATS):
            try:
                await database_sync_to_async(HEARTBEATS.flush)()
            except Exception:
                logger.exception("could not write heartbeats; they will be retried with the next batch")


def ensure_heartbeat_flusher() -> None:
    """One writer task per server process: about one commit a second, whatever the number of agents."""
    global _flusher
    loop = asyncio.get_running_loop()
    if _flusher is None or _flusher.done() or _flusher.get_loop() is not loop:
        _flusher = loop.create_task(_flush_heartbeats_forever(), name="fleetwatch-heartbeat-flusher")


TOKENS = TokenChecker(touch=HEARTBEATS.touch_credential, stale_after_seconds=STALE_HANDSHAKE_SECONDS)


async def _authenticate(raw: str, queued_at: float) -> tuple[int, int] | str | None:
    """The device and its heartbeat interval; None for a refused token or a device connecting too often,
    STALE for a handshake that waited too long to be worth checking."""
    if time.monotonic() - queued_at > STALE_HANDSHAKE_SECONDS:
        return STALE
    try:
        identity = await TOKENS.check(raw, queued_at)
    except TimeoutError:
        return STALE
    if identity is None:
        return None
    # Counted per token (its key id), so a re-enrolled device starts afresh and ids never collide.
    if CONNECTS.take(raw.split("_")[1]):
        logger.warning("device %s connects more than %s times a minute; refused", identity.device_id,
                       CONNECT_LIMIT.count)
        return None
    return identity.device_id, identity.heartbeat_interval


def _welcome_extras(*, device_id: int, agent_version: str) -> tuple[dict[str, Any] | None, float]:
    """What the welcome adds from the database, in one trip to a thread: an agent update on offer, and the
    window the fleet spreads reconnects over (both read at most every few seconds per process)."""
    return update_offer_for(device_id=device_id, agent_version=agent_version), reconnect_spread()


async def _welcome_extras_for(*, device_id: int, agent_version: str) -> tuple[dict[str, Any] | None, float]:
    """``_welcome_extras``, from this process's memory when both are known there (nearly every welcome of a
    reconnect storm), else through a database thread."""
    spread = counted_spread()
    if spread is not None and no_offer_known(agent_version=agent_version):
        return None, spread
    return await agent_db(_welcome_extras)(device_id=device_id, agent_version=agent_version)


class AgentConsumer(DirectDispatch, AsyncWebsocketConsumer):
    """One connected agent. Nothing is read or written before its token checks out."""

    device_id: int | None = None
    connection_id: str = ""
    said_hello = False
    takes_actions = False
    takes_remote = False
    closing = False

    async def connect(self) -> None:
        token = _bearer(self.scope)
        identity = await _authenticate(token, time.monotonic()) if token else None
        if identity is None:
            agent_metrics.handshake_refused("token")
            await self.close()  # refused during the handshake: HTTP 403, never a session cookie fallback
            return
        if identity == STALE:  # not a refusal (403 would make the agent stop): come back later
            agent_metrics.handshake_refused("busy")
            await self.accept()
            await self.close(code=CLOSE_TRY_LATER)
            return
        self.device_id, self.heartbeat_interval = identity
        self.connection_id = uuid.uuid4().hex
        self.bad_frames = 0
        self.allowance = RATE_BURST
        self.last_frame_at = time.monotonic()
        self.inventory_allowance = float(INVENTORY_BURST)
        self.last_inventory_at = time.monotonic()
        self.last_sample_at = 0.0
        self.replies: set[asyncio.Task] = set()
        self.remote_allowance = REMOTE_RATE_BURST
        self.last_remote_frame_at = time.monotonic()
        # session key → the browser socket's channel, and the bytes each of its streams has on the way
        self.remote_links: dict[str, str] = {}
        self.remote_in_flight: dict[tuple[str, int], int] = {}
        ensure_relay_running()
        ensure_heartbeat_flusher()
        await self._join_agent_group()
        await self.accept()
        self.hello_timer = asyncio.create_task(self._close_without_hello())

    async def _close_without_hello(self) -> None:
        await asyncio.sleep(HELLO_WITHIN_SECONDS)
        if not self.said_hello:
            await self.close(code=CLOSE_NO_HELLO)

    async def _join_agent_group(self) -> None:
        group, channel = agent_group(self.device_id), self.channel_name
        join = asyncio.ensure_future(self.channel_layer.group_add(group, channel))
        try:
            await asyncio.shield(join)
        except asyncio.CancelledError:
            # daphne cancels a handshake whose client left. Cancelling a Redis command mid-reply makes
            # redis-py drop the connection (a storm of them churned the channel layer's pool), so the
            # command finishes on its own and the membership is taken back afterwards.
            join.add_done_callback(functools.partial(self._take_back_membership, group, channel))
            raise
        self.joined_group_at = time.monotonic()

    def _take_back_membership(self, group: str, channel: str, join: asyncio.Future) -> None:
        if join.cancelled() or join.exception() is not None:
            return  # never joined (the exception is retrieved here, so it is not logged as unhandled)
        leaving = asyncio.ensure_future(self.channel_layer.group_discard(group, channel))
        _LEAVING.add(leaving)  # held until done: the loop keeps only weak references to tasks
        leaving.add_done_callback(_LEAVING.discard)

    async def disconnect(self, code: int) -> None:
        if self.device_id is None:
            return
        if getattr(self, "hello_timer", None) is not None:
            self.hello_timer.cancel()
        for reply in list(getattr(self, "replies", ())):
            reply.cancel()  # the inventory is still written; there is no one left to tell
        for session in list(getattr(self, "remote_links", {})):
            await self._end_remote_link(session, "the agent disconnected")
        await self.channel_layer.group_discard(agent_group(self.device_id), self.channel_name)
        if self.said_hello:
            agent_metrics.disconnected()
            with contextlib.suppress(Exception):
                await agent_db(mark_agent_disconnected)(device_id=self.device_id,
                                                                      connection_id=self.connection_id)

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        self.frame_arrived = time.monotonic()
        try:
            if bytes_data is not None and self.takes_remote:
                await self.on_remote_data(bytes_data)
                self.bad_frames = 0
                return
            frame_type, frame = parse_frame(text_data, bytes_data)
            if frame_type in REMOTE_FRAMES:
                self._take_remote_allowance()
            else:
                self._take_rate_allowance()
            if frame_type != "hello" and not self.said_hello:
                raise FrameError("hello_first", "Send a hello frame first.")
            if frame_type == "inventory":  # kept as received while it waits for the writer (see PendingInventory)
                await self.on_inventory(frame, frame_text=text_data)
            elif frame_type in REMOTE_FRAMES:
                await self.on_remote_frame(frame)
            else:
                await getattr(self, f"on_{frame_type}")(frame)
            self.bad_frames = 0
        except FrameError as error:
            await self._reject(error)
        except ObjectDoesNotExist:  # the device was deleted while its agent was connected
            await self.agent_disconnect({})

    def _take_rate_allowance(self) -> None:
        now = time.monotonic()
        self.allowance = min(RATE_BURST, self.allowance + (now - self.last_frame_at) * RATE_PER_SECOND)
        self.last_frame_at = now
        if self.allowance < 1:
            raise FrameError("rate_limited", "Too many frames; slow down.")
        self.allowance -= 1

    def _take_remote_allowance(self) -> None:
        now = time.monotonic()
        self.remote_allowance = min(REMOTE_RATE_BURST, self.remote_allowance + (
            now - self.last_remote_frame_at) * REMOTE_RATE_PER_SECOND)
        self.last_remote_frame_at = now
        if self.remote_allowance < 1:
            raise FrameError("rate_limited", "Too many remote session frames; slow down.")
        self.remote_allowance -= 1

    async def _reject(self, error: FrameError) -> None:
        agent_metrics.frame_refused(error.code)
        self.bad_frames += 1
        await self._send({"type": "error", "code": error.code, "message": str(error)})
        if self.bad_frames >= BAD_FRAMES_BEFORE_CLOSE:
            await self.close(code=CLOSE_POLICY)

    async def _send(self, frame: dict[str, Any]) -> None:
        """Send a frame unless the socket is closing: an answer that was being made when this side closed
        (a revocation) or the agent went away is dropped. Raising there would end the consumer before its
        disconnect handler marks the device offline."""
        if self.closing:
            return
        try:
            await self.send(text_data=json.dumps(frame))
        except Disconnected:
            self.closing = True  # the peer went; its disconnect message follows

    async def close(self, code: int | bool | None = None, reason: str | None = None) -> None:
        self.closing = True
        await super().close(code=code, reason=reason)

    async def on_hello(self, hello: Hello) -> None:
        if self.said_hello:
            raise FrameError("invalid_field", "Say hello once per connection.")
        self.takes_actions = "actions" in hello.capabilities
        self.takes_remote = "remote" in hello.capabilities
        self.sent_actions: set[int] = set()
        greeting = await HELLOS.greet(AgentHello(device_id=self.device_id, connection_id=self.connection_id,
                                                 agent_version=hello.agent_version, channel=self.channel_name),
                                      takes_actions=self.takes_actions)
        if greeting is None:
            raise ObjectDoesNotExist(f"device {self.device_id} is gone")
        self.said_hello = True
        agent_metrics.connected()
        release_held_devices_at_exit(channel_name=self.channel_name)
        offer, spread = await _welcome_extras_for(device_id=self.device_id, agent_version=hello.agent_version)
        await self._send({"type": "welcome", "device_id": self.device_id,
                          "heartbeat_interval": self.heartbeat_interval, "inventory_hash": greeting.inventory_hash,
                          "reconnect_spread": spread,
                          "server_version": settings.FLEETWATCH_VERSION,
                          "signing_public_key": public_key_text(), "signing_key_endorsement": key_endorsement(),
                          **({"agent_update": offer} if offer else {})})
        if self.takes_actions:
            for frame in greeting.cancels:
                await self._send(frame)
            if greeting.deliveries is not None:
                await self._send_deliveries(greeting.deliveries)
            if greeting.deliveries is None or len(greeting.deliveries) >= delivery.MAX_ACTIONS_PER_DELIVERY:
                await self._deliver_actions()  # what the greeting could not carry

    async def _send_deliveries(self, frames: list[dict[str, Any]]) -> None:
        for frame in frames:
            action_id = frame["envelope"]["action_id"]
            if action_id not in self.sent_actions:  # once per connection; a new connection sends all again
                self.sent_actions.add(action_id)
                await self._send(frame)

    async def _deliver_actions(self) -> None:
        """Send what waits for this device, in order, through the process's action writer (deliveries of
        many sockets are one query and one commit)."""
        while True:
            frames = await ACTIONS.deliver(device_id=self.device_id, already_sent=set(self.sent_actions))
            await self._send_deliveries(frames)
            if len(frames) < delivery.MAX_ACTIONS_PER_DELIVERY:
                return

    async def on_action_started(self, frame: ActionStartedFrame) -> None:
        await agent_db(delivery.record_started)(
            device_id=self.device_id, action_id=frame.action_id, started_at=frame.started_at)

    async def on_action_output(self, frame: ActionOutputFrame) -> None:
        await agent_db(delivery.append_output)(
            device_id=self.device_id, action_id=frame.action_id, stdout=frame.stdout, stderr=frame.stderr)

    async def on_action_result(self, frame: ActionResultFrame) -> None:
        await self._store_report(AgentReport(
            device_id=self.device_id, action_id=frame.action_id, status=frame.status, exit_code=frame.exit_code,
            stdout=frame.stdout, stderr=frame.stderr, stdout_truncated=frame.stdout_truncated,
            stderr_truncated=frame.stderr_truncated, started_at=frame.started_at, finished_at=frame.finished_at,
            result=frame.result, error=frame.error))

    async def on_action_refused(self, frame: ActionRefusedFrame) -> None:
        await self._store_report(AgentReport(device_id=self.device_id, action_id=frame.action_id, refused=True,
                                             reason=frame.reason, message=frame.message))

    async def _store_report(self, report: AgentReport) -> None:
        """Stored in a batch by the process's action writer, acknowledged once committed (until then the
        agent keeps its spooled copy), then what the report released (the next profile task) is sent."""
        known = await ACTIONS.store(report)
        # Acknowledged even when unknown (e.g. the action was deleted): the agent may drop its spooled copy.
        await self._send({"type": "action_stored", "action_id": report.action_id, "known": known})
        if known:
            await self._deliver_actions()

    async def agent_deliver(self, message: dict[str, Any]) -> None:
        """New actions were queued for this device (in any process)."""
        if self.takes_actions:
            await self._deliver_actions()

    async def agent_cancel(self, message: dict[str, Any]) -> None:
        if self.takes_actions:
            await self._send({"type": "action_cancel", "action_id": message["action_id"]})

    async def on_heartbeat(self, heartbeat: HeartbeatFrame) -> None:
        # Every heartbeat is answered; the history keeps at most one every half interval, so an agent that
        # sends as fast as the frame limit lets it cannot fill the metric table.
        now = time.monotonic()
        if now - self.last_sample_at >= self.heartbeat_interval / 2:
            self.last_sample_at = now
            HEARTBEATS.add(heartbeat_from(self.device_id, heartbeat.metrics))
        if time.monotonic() - self.joined_group_at > REJOIN_GROUP_SECONDS:
            await self._join_agent_group()
        await self._send({"type": "ack", "seq": heartbeat.seq})
        agent_metrics.heartbeat_answered(arrived=self.frame_arrived)

    async def on_update_scan(self, scan: UpdateScanFrame) -> None:
        # Buffered like heartbeats and written with them: a fleet's reconnect sends thousands at once.
        HEARTBEATS.add_scan(UpdateScan(device_id=self.device_id, scanned_at=scan.scanned_at, error=scan.error,
                                       reboot_required=scan.reboot_required))

    async def on_inventory(self, inventory: InventoryFrame, *, frame_text: str) -> None:
        now = time.monotonic()
        self.inventory_allowance = min(float(INVENTORY_BURST), self.inventory_allowance + (
            now - self.last_inventory_at) / INVENTORY_EVERY_SECONDS)
        self.last_inventory_at = now
        if self.inventory_allowance < 1:
            raise FrameError("rate_limited", f"Inventories are accepted once a minute (bursts of {INVENTORY_BURST});"
                                             " this one was not stored.")
        self.inventory_allowance -= 1
        # Written by the process's inventory writer; the socket goes on answering heartbeats meanwhile.
        outcome = INVENTORIES.submit(PendingInventory.from_frame(
            device_id=self.device_id, content_hash=inventory.content_hash, frame_text=frame_text))
        task = asyncio.create_task(self._answer_inventory(outcome, inventory.content_hash))
        self.replies.add(task)
        task.add_done_callback(self.replies.discard)

    async def _answer_inventory(self, outcome: asyncio.Future[Stored], content_hash: str) -> None:
        stored = await outcome
        if stored is Stored.REPLACED:
            return  # the newer inventory's answer follows
        if stored is Stored.DEVICE_GONE:
            await self.agent_disconnect({})
        elif stored is Stored.FAILED:
            await self._send({"type": "error", "code": "not_stored",
                              "message": "The inventory could not be stored; send it again later."})
        else:
            await self._send({"type": "inventory_stored", "hash": content_hash,
                              "changed": stored is Stored.CHANGED})

    # --- remote sessions: relayed between the agent and the browser socket that opened them ------------
    async def remote_open(self, message: dict[str, Any]) -> None:
        """A browser socket (in any process) opens a session: its signed envelope goes to the agent."""
        session, reply_to = message["session"], message["reply_to"]
        if not self.takes_remote or not self.said_hello:
            await self._to_browser(reply_to, {"type": "remote_refused", "session": session, "reason": "unsupported",
                                              "message": "This agent cannot open remote sessions; update it."})
            return
        self.remote_links[session] = reply_to
        await self._send(message["frame"])

    async def remote_to_agent(self, message: dict[str, Any]) -> None:
        """A control frame of an open session (resize, acknowledgement, file request, close)."""
        session, frame = message["session"], message["frame"]
        if self.remote_links.get(session) != message.get("reply_to"):
            return
        if frame.get("type") == "remote_ack":
            key = (session, frame.get("stream", 0))
            self.remote_in_flight[key] = max(0, self.remote_in_flight.get(key, 0) - int(frame.get("bytes", 0)))
        await self._send(frame)
        if frame.get("type") == "remote_close":
            self._forget_remote(session)

    async def remote_data(self, message: dict[str, Any]) -> None:
        """Keystrokes or an upload's bytes for the agent."""
        session = message["session"]
        if self.remote_links.get(session) != message.get("reply_to") or self.closing:
            return
        with contextlib.suppress(Disconnected):
            await self.send(bytes_data=pack_for_agent(kind=message["kind"], session=session, stream=message["stream"],
                                                      data=message["data"]))

    async def on_remote_data(self, raw: bytes) -> None:
        """Terminal output or a download's bytes from the agent, for the browser socket of its session."""
        frame = unpack_from_agent(raw)
        browser = self.remote_links.get(frame.session)
        if browser is None:
            raise FrameError("invalid_field", "No such session is open on this connection.")
        key = (frame.session, frame.stream)
        in_flight = self.remote_in_flight.get(key, 0) + len(frame.data)
        if in_flight > WINDOW + MAX_CHUNK:  # the agent ignores the window: end the session, not the socket
            await self._send({"type": "remote_close", "session": frame.session,
                              "reason": "the agent sent more than the stream's window"})
            await self._end_remote_link(frame.session, "the agent broke the session's flow control")
            return
        self.remote_in_flight[key] = in_flight
        await self._to_browser(browser, {"type": "remote.output", "kind": frame.kind, "stream": frame.stream,
                                         "data": frame.data})

    async def on_remote_frame(self, frame: dict[str, Any]) -> None:
        browser = self.remote_links.get(frame["session"])
        if browser is None:
            return  # a session that already ended here (its browser has been told)
        if frame["type"] == "remote_done" or (frame["type"] == "remote_reply" and not frame["ok"]):
            self.remote_in_flight.pop((frame["session"], frame["request"]), None)
        await self._to_browser(browser, {"type": "remote.from_agent", "frame": frame})
        if frame["type"] in ("remote_refused", "remote_closed"):
            self._forget_remote(frame["session"])

    async def _to_browser(self, channel: str, message: dict[str, Any]) -> None:
        try:
            await self.channel_layer.send(channel, message)
        except ChannelFull:
            logger.warning("a remote session's browser socket is not keeping up; its message was dropped")

    async def _end_remote_link(self, session: str, reason: str) -> None:
        browser = self._forget_remote(session)
        if browser is not None:
            await self._to_browser(browser, {"type": "remote.from_agent", "frame": {
                "type": "remote_closed", "session": session, "reason": reason, "message": "", "exit_code": None}})

    def _forget_remote(self, session: str) -> str | None:
        for key in [key for key in self.remote_in_flight if key[0] == session]:
            del self.remote_in_flight[key]
        return self.remote_links.pop(session, None)

    async def agent_config(self, message: dict[str, Any]) -> None:
        """A technician changed this device's heartbeat interval: tell the agent at once."""
        self.heartbeat_interval = message["heartbeat_interval"]
        await self._send({"type": "config", "heartbeat_interval": self.heartbeat_interval})

    async def agent_replaced(self, message: dict[str, Any]) -> None:
        """Another connection of this device said hello (in any process): one socket per device.

        The device row says which connection holds it now, so an announcement that arrives late (an older
        connection's, relayed after this one joined) never closes the newest socket."""
        if message.get("connection_id") == self.connection_id or not self.said_hello:
            return
        holder = await agent_db(agent_connection_of)(device_id=self.device_id)
        if holder != self.connection_id:
            await self._send({"type": "error", "code": "replaced",
                              "message": "A newer connection with this agent's token took over."})
            await self.close(code=CLOSE_REPLACED)

    async def agent_disconnect(self, message: dict[str, Any]) -> None:
        """The device's token was revoked or the device deleted, in any process."""
        await self._send({"type": "error", "code": "revoked",
                          "message": "This agent's token was revoked; enroll it again."})
        await self.close(code=CLOSE_REVOKED)
