"""The browser's side of a remote session: one socket per session (``/ws/remote/<key>/``), opened by the user
who asked for the session, relaying to the agent's socket through the channel layer (whichever server process
holds it), recording the terminal's transcript and every file operation, and ending the session — at the agent
too — when the page closes, the session idles, or the user's rights change.

Both directions keep to a window: terminal output and downloads wait for the browser's acknowledgements,
uploads for the agent's, so no buffer on the way grows with a slow peer.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import logging
import re
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs

from autobahn.exception import Disconnected
from channels.db import database_sync_to_async
from channels.exceptions import ChannelFull
from channels.generic.websocket import AsyncWebsocketConsumer
from django.conf import settings
from django.core.exceptions import PermissionDenied

from portal.access import Actor
from portal.events.relay import ensure_relay_running
from portal.remote import services
from portal.remote.envelopes import request_frame, session_frame
from portal.remote.models import FileOperation, RemoteSession, SessionKind
from portal.remote.transcripts import INPUT, OUTPUT, RESIZE, Recorder
from realtime.dispatch import DirectDispatch
from realtime.remote_protocol import FILE, MAX_CHUNK, TERMINAL, WINDOW, pack_for_browser, unpack_from_browser
from realtime.rights import FollowsRights
from realtime.transcript_writer import TRANSCRIPTS

logger = logging.getLogger(__name__)
OPEN_WITHIN_SECONDS = 30
CONSENT_SECONDS = 75  # the agent's dialog waits a minute for the person at the desktop
IDLE_CHECK_SECONDS = 15
INPUT_BYTES_PER_SECOND = 1024 * 1024
MESSAGES_PER_SECOND = 500.0
# A page's acknowledgements are passed on to the agent together: 64 KB at a time, or after 20 ms.
ACK_BATCH = 64 * 1024
ACK_DELAY_SECONDS = 0.02
OPERATIONS = {"list", "download", "upload", "delete", "rename", "mkdir"}
RECORDED_OPERATIONS = {"download": FileOperation.DOWNLOAD, "upload": FileOperation.UPLOAD,
                       "delete": FileOperation.DELETE, "rename": FileOperation.RENAME, "mkdir": FileOperation.MKDIR}


@dataclass
class Pending:
    """A file request on its way: the browser's id for it, its transfer record, and the bytes that passed."""

    browser_id: int
    op: str
    path: str
    transfer_id: int | None = None
    size: int = 0
    sha256: str = ""
    ready: bool = False
    moved: int = 0
    in_flight: int = 0
    digest: Any = field(default_factory=hashlib.sha256)


@dataclass
class Bucket:
    """A token bucket: ``rate`` a second, up to ``rate`` at once."""

    rate: float
    level: float = 0.0
    at: float = field(default_factory=time.monotonic)

    def __post_init__(self) -> None:
        self.level = self.rate

    def take(self, amount: float) -> bool:
        now = time.monotonic()
        self.level, self.at = min(self.rate, self.level + (now - self.at) * self.rate), now
        if self.level < amount:
            return False
        self.level -= amount
        return True


def _size(query: dict[str, list[str]], name: str, default: int) -> int:
    value = (query.get(name) or [""])[0]
    return min(int(value), 999) if value.isdigit() and int(value) > 0 else default


@database_sync_to_async
def _claim(actor: Actor, key: str, cols: int, rows: int) -> tuple[RemoteSession, str, dict[str, Any]] | None:
    try:
        session = services.claim_session(actor=actor, key=key)
    except PermissionDenied:
        return None
    if session is None:
        return None
    channel = services.devices_reachable(device_ids=[session.device_id]).get(session.device_id, "")
    frame = session_frame(session, banner=session.company.remote_banner, cols=cols, rows=rows)
    return session, channel, frame


class RemoteConsumer(DirectDispatch, FollowsRights, AsyncWebsocketConsumer):
    session: RemoteSession | None = None
    finished = False

    async def connect(self) -> None:
        actor: Actor | None = self.scope.get("actor")
        if actor is None or not actor.is_authenticated or actor.via_token:
            await self.close()  # a signed-in person on our own pages only (origin checked): HTTP 403
            return
        query = parse_qs(self.scope.get("query_string", b"").decode("latin-1"))
        claimed = await _claim(actor, str(self.scope["url_route"]["kwargs"]["key"]), _size(query, "cols", 80),
                               _size(query, "rows", 24))
        if claimed is None:
            await self.close()
            return
        self.actor = actor
        self.session, self.agent_channel, open_frame = claimed
        self.key = self.session.key.hex
        self.opened = False
        self.end_reason = ""
        self.totals = {"to": 0, "from": 0}
        self.pending: dict[int, Pending] = {}
        # Bytes sent to the page per stream and not acknowledged yet: an acknowledgement is believed only up to
        # this, so a page cannot open the agent's window wider than what it has really taken.
        self.unacknowledged: dict[int, int] = {}
        self.acks_waiting: dict[int, int] = {}
        self.ack_timer: asyncio.TimerHandle | None = None
        self.background: set[asyncio.Future] = set()
        self.next_request = 0
        self.input_bytes = Bucket(INPUT_BYTES_PER_SECOND)
        self.messages = Bucket(MESSAGES_PER_SECOND)
        self.last_traffic = time.monotonic()
        self.recorder = Recorder(output_limit=settings.FLEETWATCH_REMOTE_TRANSCRIPT_MAX_MB * 1024 * 1024) \
            if self.session.kind == SessionKind.SHELL else None
        self.timers: list[asyncio.Task] = []
        ensure_relay_running()  # embedded: this process hears rights changes made elsewhere
        await self.accept()
        await self.follow_rights()
        if not self.agent_channel:
            await self._finish("the device is not connected", refused=True, tell_agent=False)
            return
        await self._to_agent_channel({"type": "remote.open", "session": self.key, "reply_to": self.channel_name,
                                      "frame": open_frame})
        wait = OPEN_WITHIN_SECONDS + (CONSENT_SECONDS if self.session.consent_required else 0)
        self.timers = [asyncio.create_task(self._unless_opened_within(wait)), asyncio.create_task(self._idle_watch())]

    # --- timers ------------------------------------------------------------------------------------------
    async def _unless_opened_within(self, seconds: float) -> None:
        await asyncio.sleep(seconds)
        if not self.opened:
            await self._finish("the agent did not answer", refused=True)

    async def _idle_watch(self) -> None:
        limit = settings.FLEETWATCH_REMOTE_IDLE_MINUTES * 60
        while True:
            await asyncio.sleep(IDLE_CHECK_SECONDS)
            if self.recorder is not None:
                self._hand_over_transcript(force=False)
            if time.monotonic() - self.last_traffic > limit:
                await self._finish(f"idle for {settings.FLEETWATCH_REMOTE_IDLE_MINUTES} minutes")
                return

    # --- from the browser ----------------------------------------------------------------------------------
    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        if self.finished or self.session is None:
            return
        if not self.messages.take(1):
            await self._tell({"event": "error", "message": "Too many messages; slow down."})
            return
        self.last_traffic = time.monotonic()
        if bytes_data is not None:
            await self._browser_data(bytes_data)
            return
        try:
            message = json.loads(text_data or "")
            op = message["op"]
        except (ValueError, KeyError, TypeError):
            await self._tell({"event": "error", "message": "Messages are JSON objects with an 'op'."})
            return
        if op == "close":
            await self._finish("closed by the technician")
        elif op == "resize" and self.opened:
            await self._resize(message)
        elif op == "ack" and self.opened:
            await self._acknowledge(message)
        elif op == "cancel":
            await self._cancel(message)
        elif op in OPERATIONS and self.opened and self.session.kind == SessionKind.FILES:
            await self._file_request(op, message)
        else:
            await self._tell({"event": "error", "message": f"{op!r} is not possible now."})

    async def _browser_data(self, raw: bytes) -> None:
        try:
            kind, stream, data = unpack_from_browser(raw)
        except ValueError as error:
            await self._tell({"event": "error", "message": str(error)})
            return
        if kind == TERMINAL and self.opened and self.recorder is not None:
            if not self.input_bytes.take(len(data)):
                await self._tell({"event": "error", "message": "Typing faster than 1 MB a second; input dropped."})
                return
            self.recorder.add(INPUT, data)
            self.totals["to"] += len(data)
            await self._data_to_agent(TERMINAL, 0, data)
        elif kind == FILE:
            await self._upload_chunk(stream, data)

    async def _resize(self, message: dict[str, Any]) -> None:
        cols, rows = message.get("cols"), message.get("rows")
        if not (isinstance(cols, int) and isinstance(rows, int) and 0 < cols < 1000 and 0 < rows < 1000):
            return
        if self.recorder is not None:
            self.recorder.add(RESIZE, f"{cols}x{rows}".encode())
        await self._control({"type": "remote_resize", "session": self.key, "cols": cols, "rows": rows})

    async def _acknowledge(self, message: dict[str, Any]) -> None:
        stream, count = message.get("stream"), message.get("bytes")
        if not isinstance(stream, int) or not isinstance(count, int) or isinstance(count, bool):
            return
        count = min(count, self.unacknowledged.get(stream, 0))
        if count <= 0:
            return
        self.unacknowledged[stream] -= count
        self.acks_waiting[stream] = self.acks_waiting.get(stream, 0) + count
        if self.acks_waiting[stream] >= ACK_BATCH:
            await self._pass_on_acks()
        elif self.ack_timer is None:
            self.ack_timer = asyncio.get_running_loop().call_later(ACK_DELAY_SECONDS, self._acks_due)

    def _acks_due(self) -> None:
        self.ack_timer = None
        task = asyncio.ensure_future(self._pass_on_acks())
        self.background.add(task)  # held until done: the loop keeps only weak references to tasks
        task.add_done_callback(self.background.discard)

    async def _pass_on_acks(self) -> None:
        if self.ack_timer is not None:
            self.ack_timer.cancel()
            self.ack_timer = None
        waiting, self.acks_waiting = self.acks_waiting, {}
        for stream, count in waiting.items():
            await self._control({"type": "remote_ack", "session": self.key, "stream": stream, "bytes": count})

    # --- files -----------------------------------------------------------------------------------------------
    async def _file_request(self, op: str, message: dict[str, Any]) -> None:
        browser_id, path, to = message.get("id"), message.get("path"), message.get("to", "")
        if not isinstance(browser_id, int) or not isinstance(path, str) or not isinstance(to, str) or \
                len(path) > 4096 or len(to) > 4096 or "\x00" in path or "\x00" in to:
            await self._tell({"event": "error", "message": "A file request needs an id and a path."})
            return
        size, sha256 = message.get("size", 0), message.get("sha256", "")
        if op == "upload":
            limit = settings.FLEETWATCH_REMOTE_FILE_MAX_MB * 1024 * 1024
            if not isinstance(size, int) or isinstance(size, bool) or not 0 <= size <= limit or \
                    not isinstance(sha256, str) or not re.fullmatch(r"[0-9a-fA-F]{64}", sha256):
                await self._tell({"event": "reply", "id": browser_id, "ok": False, "error":
                                  f"An upload names its size (at most {settings.FLEETWATCH_REMOTE_FILE_MAX_MB} MB) "
                                  "and SHA-256."})
                return
        else:
            size, sha256 = 0, ""
        self.next_request += 1
        request = self.next_request
        pending = Pending(browser_id=browser_id, op=op, path=path, size=size, sha256=sha256.lower())
        if op in RECORDED_OPERATIONS:
            transfer = await database_sync_to_async(services.start_transfer)(
                actor=self.actor, session=self.session, operation=RECORDED_OPERATIONS[op], path=path, target_path=to,
                size=size if op == "upload" else None, sha256=pending.sha256)
            pending.transfer_id = transfer.pk
        self.pending[request] = pending
        await self._control(request_frame(self.session, request=request, op=op, path=path, to=to, size=size,
                                          sha256=pending.sha256))

    async def _upload_chunk(self, stream: int, data: bytes) -> None:
        pending = self.pending.get(stream)
        if pending is None or pending.op != "upload" or not pending.ready:
            await self._tell({"event": "error", "message": "No upload is waiting for these bytes."})
            return
        if pending.moved + len(data) > pending.size or pending.in_flight + len(data) > WINDOW + MAX_CHUNK:
            await self._tell({"event": "error", "message": "More bytes than the upload's size or window."})
            await self._cancel({"id": pending.browser_id})
            return
        pending.digest.update(data)
        pending.moved += len(data)
        pending.in_flight += len(data)
        self.totals["to"] += len(data)
        await self._data_to_agent(FILE, stream, data)

    async def _cancel(self, message: dict[str, Any]) -> None:
        for request, pending in list(self.pending.items()):
            if pending.browser_id == message.get("id"):
                await self._control({"type": "remote_cancel", "session": self.key, "stream": request})
                await self._settle(request, ok=False, error="cancelled by the technician")

    async def _settle(self, request: int, *, ok: bool, size: int | None = None, sha256: str = "",
                      error: str = "") -> None:
        pending = self.pending.pop(request, None)
        if pending is None:
            return
        if pending.transfer_id is not None:
            await database_sync_to_async(services.finish_transfer)(
                actor=self.actor, transfer_id=pending.transfer_id, ok=ok, size=size, sha256=sha256, error=error)
        await self._tell({"event": "done", "id": pending.browser_id, "ok": ok, "size": size, "sha256": sha256,
                          "error": error})

    # --- from the agent (relayed by its socket's consumer) ----------------------------------------------
    async def remote_output(self, message: dict[str, Any]) -> None:
        if self.finished:
            return
        kind, stream, data = message["kind"], message["stream"], message["data"]
        self.last_traffic = time.monotonic()
        self.totals["from"] += len(data)
        if kind == TERMINAL:
            if self.recorder is not None:
                self.recorder.add(OUTPUT, data)
                self._hand_over_transcript(force=False)
        else:
            pending = self.pending.get(stream)
            if pending is None or pending.op != "download":
                return
            pending.digest.update(data)
            pending.moved += len(data)
        self.unacknowledged[stream] = self.unacknowledged.get(stream, 0) + len(data)
        await self._to_browser(bytes_data=pack_for_browser(kind=kind, stream=stream, data=data))

    async def remote_from_agent(self, message: dict[str, Any]) -> None:
        frame = message["frame"]
        kind = frame["type"]
        if kind == "remote_opened" and not self.opened:
            self.opened = True
            await database_sync_to_async(services.mark_opened)(session_id=self.session.pk)
            await self._tell({"event": "opened", "kind": self.session.kind, "shell": frame.get("shell", "")})
        elif kind == "remote_refused":
            await self._finish(frame.get("message") or frame.get("reason") or "refused", refused=True,
                               tell_agent=False)
        elif kind == "remote_closed":
            await self._finish(frame.get("reason") or "closed on the device", exit_code=frame.get("exit_code"),
                               tell_agent=False)
        elif kind == "remote_reply":
            await self._reply(frame)
        elif kind == "remote_done":
            await self._done(frame)
        elif kind == "remote_ack":
            pending = self.pending.get(frame["stream"])
            if pending is not None and pending.op == "upload":
                pending.in_flight = max(0, pending.in_flight - frame["bytes"])
                await self._tell({"event": "progress", "id": pending.browser_id, "bytes": pending.moved -
                                  pending.in_flight, "size": pending.size})

    async def _reply(self, frame: dict[str, Any]) -> None:
        request = frame["request"]
        pending = self.pending.get(request)
        if pending is None:
            return
        await self._tell({"event": "reply", "id": pending.browser_id, "stream": request, "ok": frame["ok"],
                          "result": frame["result"], "error": frame["error"]})
        if not frame["ok"]:
            await self._settle(request, ok=False, error=frame["error"])
        elif pending.op in ("upload", "download"):
            pending.ready = True
            if pending.op == "download":
                size = frame["result"].get("size")
                pending.size = size if isinstance(size, int) else 0
        else:
            await self._settle(request, ok=True)

    async def _done(self, frame: dict[str, Any]) -> None:
        pending = self.pending.get(frame["request"])
        if pending is None:
            return
        ok, error, seen = frame["ok"], frame["error"], pending.digest.hexdigest()
        if ok and (frame["sha256"] != seen or frame["size"] != pending.moved):
            ok, error = False, f"the SHA-256 the agent reports ({frame['sha256']}) is not that of what passed ({seen})"
        if ok and pending.op == "upload" and seen != pending.sha256:
            ok, error = False, f"the file that arrived has SHA-256 {seen}, not the {pending.sha256} announced"
        await self._settle(frame["request"], ok=ok, size=frame["size"] or pending.moved,
                           sha256=frame["sha256"] or seen, error=error)

    # --- ending --------------------------------------------------------------------------------------------
    async def actor_changed(self, message: dict[str, Any]) -> None:
        await self._finish("the user's rights changed")
        await self.close(code=4403)

    async def _finish(self, reason: str, *, refused: bool = False, exit_code: int | None = None,
                      tell_agent: bool = True) -> None:
        if self.finished or self.session is None:
            return
        self.finished = True
        if self.ack_timer is not None:
            self.ack_timer.cancel()
        for timer in self.timers:
            if timer is not asyncio.current_task():
                timer.cancel()
        if tell_agent:
            await self._control({"type": "remote_close", "session": self.key, "reason": reason[:200]}, force=True)
        for request in list(self.pending):
            await self._settle(request, ok=False, error=f"the session ended: {reason}")
        truncated = False
        if self.recorder is not None:
            self._hand_over_transcript(force=True)
            truncated = self.recorder.truncated
            with contextlib.suppress(Exception):
                await TRANSCRIPTS.flushed()
        await database_sync_to_async(services.end_session)(
            actor=self.actor, session_id=self.session.pk, reason=reason, refused=refused, exit_code=exit_code,
            totals=services.SessionTotals(bytes_to_device=self.totals["to"], bytes_from_device=self.totals["from"],
                                          transcript_truncated=truncated))
        with contextlib.suppress(Exception):
            await self._tell({"event": "refused" if refused else "closed", "reason": reason, "exit_code": exit_code})
            await self.close(code=1000)

    async def disconnect(self, code: int) -> None:
        if self.session is not None and not self.finished:
            await self._finish("the technician closed the page")
        await self.stop_following_rights()

    # --- plumbing --------------------------------------------------------------------------------------------
    def _hand_over_transcript(self, *, force: bool) -> None:
        chunk = self.recorder.take(force=force) if self.recorder is not None else None
        if chunk is not None:
            TRANSCRIPTS.add(session_id=self.session.pk, seq=chunk.seq, data=chunk.data, raw_bytes=chunk.raw_bytes)

    async def _tell(self, event: dict[str, Any]) -> None:
        await self._to_browser(text_data=json.dumps(event))

    async def _to_browser(self, **data: Any) -> None:
        """Send unless the page has gone: what was on its way when it closed is dropped (its disconnect, which
        ends the session, follows)."""
        with contextlib.suppress(Disconnected):
            await self.send(**data)

    async def _to_agent_channel(self, message: dict[str, Any]) -> None:
        try:
            await self.channel_layer.send(self.agent_channel, message)
        except ChannelFull:
            logger.warning("the agent socket of session %s is not keeping up; a message was dropped", self.key)

    async def _control(self, frame: dict[str, Any], *, force: bool = False) -> None:
        if self.opened or force:
            await self._to_agent_channel({"type": "remote.to_agent", "session": self.key,
                                          "reply_to": self.channel_name, "frame": frame})

    async def _data_to_agent(self, kind: int, stream: int, data: bytes) -> None:
        await self._to_agent_channel({"type": "remote.data", "session": self.key, "reply_to": self.channel_name,
                                      "kind": kind, "stream": stream, "data": data})
