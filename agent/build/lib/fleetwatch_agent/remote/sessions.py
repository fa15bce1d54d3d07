"""The agent's side of remote sessions: opens what a verified envelope asks for, carries the terminal's
bytes and the files' requests, and ends sessions when the server, the shell or the idle timer says so —
and all of them when the connection to the server drops."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

from fleetwatch_agent.envelope import Refused
from fleetwatch_agent.remote import consent, files
from fleetwatch_agent.remote.terminal import ShellRefused, Terminal, shell_command
from fleetwatch_agent.remote.trust import FileRequest, NonceBook, SessionGrant, verify_request, verify_session
from fleetwatch_agent.remote.wire import FILE, MAX_CHUNK, TERMINAL, WINDOW, WireError, pack, unpack

logger = logging.getLogger(__name__)
MAX_SESSIONS = 8
IDLE_CHECK_SECONDS = 15
SendText = Callable[[dict[str, Any]], Awaitable[None]]
SendBytes = Callable[[bytes], Awaitable[None]]


@dataclass
class Download:
    handle: BinaryIO
    size: int
    in_flight: int = 0
    room: asyncio.Event = field(default_factory=asyncio.Event)
    task: asyncio.Task | None = None


@dataclass
class Session:
    grant: SessionGrant
    last_activity: float = field(default_factory=time.monotonic)
    terminal: Terminal | None = None
    uploads: dict[int, files.Upload] = field(default_factory=dict)
    downloads: dict[int, Download] = field(default_factory=dict)

    def touch(self) -> None:
        self.last_activity = time.monotonic()


class RemoteSessions:
    def __init__(self, *, state_dir: Path, device_id: int, pinned_key: Callable[[], str | None],
                 complete_since: float, enabled: bool = True, consent_command: list[str] | None = None) -> None:
        self.device_id = device_id
        self.pinned_key = pinned_key
        self.enabled = enabled
        self.consent_command = consent_command
        self.nonces = NonceBook(state_dir, complete_since=complete_since)
        self.sessions: dict[str, Session] = {}
        self.opening: set[str] = set()
        self.closed_while_opening: set[str] = set()
        self._send_text: SendText | None = None
        self._send_bytes: SendBytes | None = None
        self._tasks: set[asyncio.Task] = set()
        self._watchdog: asyncio.Task | None = None

    # --- connection ----------------------------------------------------------------------------------
    def attach(self, *, send_text: SendText, send_bytes: SendBytes) -> None:
        self._send_text, self._send_bytes = send_text, send_bytes
        if self._watchdog is None or self._watchdog.done():
            self._watchdog = asyncio.create_task(self._close_idle_forever(), name="fleetwatch-remote-idle")

    async def detach(self) -> None:
        """The connection dropped: nobody is watching these sessions any more, so they end."""
        self._send_text = self._send_bytes = None
        for key in list(self.sessions):
            await self._end(key, reason="the connection to the server was lost", tell=False)
        for task in list(self._tasks):
            task.cancel()
        if self._watchdog is not None:
            self._watchdog.cancel()

    async def _text(self, frame: dict[str, Any]) -> None:
        if self._send_text is not None:
            with contextlib.suppress(Exception):
                await self._send_text(frame)

    async def _bytes(self, frame: bytes) -> None:
        if self._send_bytes is not None:
            await self._send_bytes(frame)

    def _spawn(self, work: Awaitable[None]) -> None:
        task = asyncio.ensure_future(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # --- frames from the server ----------------------------------------------------------------------
    async def handle(self, frame: dict[str, Any]) -> None:
        kind = frame.get("type")
        if kind == "remote_open":
            self._spawn(self._open(frame))
            return
        key = frame.get("session")
        if kind == "remote_request":
            self._spawn(self._request(frame))
            return
        session = self.sessions.get(key) if isinstance(key, str) else None
        if session is None:
            if kind == "remote_close" and key in self.opening:
                self.closed_while_opening.add(key)  # e.g. the page was closed while the user was being asked
            return  # already ended here; the server has been told
        session.touch()
        if kind == "remote_resize" and session.terminal is not None:
            cols, rows = frame.get("cols"), frame.get("rows")
            if isinstance(cols, int) and isinstance(rows, int):
                session.terminal.resize(cols, rows)
        elif kind == "remote_ack":
            self._acknowledged(session, frame.get("stream"), frame.get("bytes"))
        elif kind == "remote_cancel":
            await self._cancel_stream(key, session, frame.get("stream"))
        elif kind == "remote_close":
            await self._end(key, reason=str(frame.get("reason") or "closed by the technician")[:200], tell=True)

    async def handle_data(self, raw: bytes) -> None:
        try:
            frame = unpack(raw)
        except WireError as error:
            logger.warning("a malformed remote data frame: %s", error)
            return
        session = self.sessions.get(frame.session)
        if session is None:
            return
        session.touch()
        if frame.kind == TERMINAL and session.terminal is not None:
            if not session.terminal.write(frame.data):
                await self._end(frame.session, reason="the shell stopped reading its input", tell=True)
        elif frame.kind == FILE:
            await self._upload_data(frame.session, session, frame.stream, frame.data)

    # --- opening ---------------------------------------------------------------------------------------
    async def _refuse(self, key: Any, reason: str, message: str) -> None:
        logger.warning("remote session refused (%s): %s", reason, message)
        await self._text({"type": "remote_refused", "session": key if isinstance(key, str) else "",
                          "reason": reason, "message": message})

    async def _open(self, frame: dict[str, Any]) -> None:
        envelope = frame.get("envelope")
        key = envelope.get("session") if isinstance(envelope, dict) else None
        try:
            grant = verify_session(frame, pinned_key=self.pinned_key(), device_id=self.device_id, now=time.time(),
                                   nonces=self.nonces)
        except Refused as refused:
            await self._refuse(key, refused.reason, str(refused))
            return
        if not self.enabled:
            await self._refuse(grant.session, "disabled", "Remote sessions are turned off in this agent's "
                                                          "configuration.")
            return
        if grant.session in self.sessions or grant.session in self.opening:
            await self._refuse(grant.session, "replayed", "This session is open already.")
            return
        if len(self.sessions) + len(self.opening) >= MAX_SESSIONS:
            await self._refuse(grant.session, "busy", f"At most {MAX_SESSIONS} sessions are open at once.")
            return
        self.opening.add(grant.session)
        try:
            await self._start(grant, frame)
        finally:
            self.opening.discard(grant.session)
            if grant.session in self.closed_while_opening:
                self.closed_while_opening.discard(grant.session)
                await self._end(grant.session, reason="closed by the technician while opening", tell=False)

    async def _start(self, grant: SessionGrant, frame: dict[str, Any]) -> None:
        if grant.consent:
            answer = await asyncio.to_thread(consent.ask, technician=grant.user, kind=grant.kind,
                                             consent_command=self.consent_command)
            if not answer.allowed:
                await self._refuse(grant.session, "consent_denied", f"Consent was not given: {answer.why}.")
                return
            logger.info("remote session %s: %s", grant.session, answer.why)
        session = Session(grant=grant)
        details: dict[str, Any] = {}
        if grant.kind == "shell":
            try:
                command = await asyncio.to_thread(shell_command, run_as=grant.run_as, shell=grant.shell)
                terminal = Terminal(command=command, cols=_size(frame.get("cols"), 80),
                                    rows=_size(frame.get("rows"), 24), on_output=self._output_of(grant.session),
                                    on_exit=self._exit_of(grant.session))
                await terminal.start()
            except ShellRefused as refused:
                await self._refuse(grant.session, "shell_failed", str(refused))
                return
            session.terminal = terminal
            details = {"shell": command.argv[0], "pid": terminal.pid}
        self.sessions[grant.session] = session
        if grant.banner:
            self._spawn(asyncio.to_thread(consent.announce, grant.banner))
        logger.info("remote %s session %s opened for %s", grant.kind, grant.session, grant.user)
        await self._text({"type": "remote_opened", "session": grant.session, "kind": grant.kind, **details})

    def _output_of(self, key: str) -> Callable[[bytes], Awaitable[None]]:
        async def output(data: bytes) -> None:
            session = self.sessions.get(key)
            if session is not None:
                session.touch()
            for start in range(0, len(data), MAX_CHUNK):
                await self._bytes(pack(kind=TERMINAL, session=key, stream=0, data=data[start:start + MAX_CHUNK]))
        return output

    def _exit_of(self, key: str) -> Callable[[int | None], Awaitable[None]]:
        async def exited(code: int | None) -> None:
            await self._end(key, reason="the shell exited", tell=True, exit_code=code)
        return exited

    # --- ending ----------------------------------------------------------------------------------------
    async def _end(self, key: str, *, reason: str, tell: bool, exit_code: int | None = None) -> None:
        session = self.sessions.pop(key, None)
        if session is None:
            return
        for upload in session.uploads.values():
            upload.abandon()
        for download in session.downloads.values():
            if download.task is not None:
                download.task.cancel()
            download.handle.close()
        if session.terminal is not None:
            await session.terminal.close()
        logger.info("remote session %s ended: %s", key, reason)
        if tell:
            await self._text({"type": "remote_closed", "session": key, "reason": reason, "exit_code": exit_code})

    async def _close_idle_forever(self) -> None:
        while True:
            await asyncio.sleep(IDLE_CHECK_SECONDS)
            now = time.monotonic()
            for key, session in list(self.sessions.items()):
                if now - session.last_activity > session.grant.idle_seconds:
                    await self._end(key, reason="idle for too long", tell=True)

    # --- flow control ----------------------------------------------------------------------------------
    def _acknowledged(self, session: Session, stream: Any, count: Any) -> None:
        if not isinstance(stream, int) or not isinstance(count, int) or count < 0:
            return
        if stream == 0 and session.terminal is not None:
            session.terminal.acknowledged(count)
            return
        download = session.downloads.get(stream)
        if download is not None:
            download.in_flight = max(0, download.in_flight - count)
            if download.in_flight < WINDOW:
                download.room.set()

    async def _cancel_stream(self, key: str, session: Session, stream: Any) -> None:
        upload = session.uploads.pop(stream, None) if isinstance(stream, int) else None
        if upload is not None:
            upload.abandon()
            await self._done(key, stream, error="cancelled")
        download = session.downloads.pop(stream, None) if isinstance(stream, int) else None
        if download is not None and download.task is not None:
            download.task.cancel()

    # --- file requests ---------------------------------------------------------------------------------
    async def _request(self, frame: dict[str, Any]) -> None:
        envelope = frame.get("envelope")
        number = envelope.get("request") if isinstance(envelope, dict) else None
        key = envelope.get("session") if isinstance(envelope, dict) else None
        try:
            request = verify_request(frame, pinned_key=self.pinned_key(), device_id=self.device_id,
                                     now=time.time(), nonces=self.nonces)
        except Refused as refused:
            await self._reply(key, number, error=f"{refused} ({refused.reason})")
            return
        session = self.sessions.get(request.session)
        if session is None or session.grant.kind != "files":
            await self._reply(request.session, request.request, error="No files session is open for this request.")
            return
        session.touch()
        try:
            await self._perform(session, request)
        except files.FileError as error:
            await self._reply(request.session, request.request, error=str(error))

    async def _perform(self, session: Session, request: FileRequest) -> None:
        limit = session.grant.max_file_bytes
        simple = {"list": lambda: files.list_folder(request.path), "delete": lambda: files.delete(request.path),
                  "rename": lambda: files.rename(request.path, request.to),
                  "mkdir": lambda: files.make_folder(request.path)}.get(request.op)
        if simple is not None:
            await self._reply(request.session, request.request, result=await asyncio.to_thread(simple))
        elif request.op == "upload":
            upload = await asyncio.to_thread(files.start_upload, request.path, size=request.size,
                                             sha256=request.sha256, max_bytes=limit)
            session.uploads[request.request] = upload
            await self._reply(request.session, request.request, result={"path": upload.path, "ready": True})
            if upload.size == 0:
                await self._upload_data(request.session, session, request.request, b"")
        elif request.op == "download":
            handle, size = await asyncio.to_thread(files.open_download, request.path, max_bytes=limit)
            download = Download(handle=handle, size=size)
            download.room.set()
            session.downloads[request.request] = download
            await self._reply(request.session, request.request, result={"path": request.path, "size": size})
            download.task = asyncio.create_task(self._send_file(request.session, session, request.request, download))

    async def _send_file(self, key: str, session: Session, stream: int, download: Download) -> None:
        digest, sent = hashlib.sha256(), 0
        try:
            while True:
                await download.room.wait()
                chunk = await asyncio.to_thread(download.handle.read, MAX_CHUNK)
                if not chunk:
                    break
                digest.update(chunk)
                sent += len(chunk)
                download.in_flight += len(chunk)
                if download.in_flight >= WINDOW:
                    download.room.clear()
                session.touch()
                await self._bytes(pack(kind=FILE, session=key, stream=stream, data=chunk))
            await self._done(key, stream, size=sent, sha256=digest.hexdigest())
        except OSError as error:
            await self._done(key, stream, error=f"Reading the file failed: {error}")
        finally:
            download.handle.close()
            session.downloads.pop(stream, None)

    async def _upload_data(self, key: str, session: Session, stream: int, data: bytes) -> None:
        upload = session.uploads.get(stream)
        if upload is None:
            return
        try:
            if data:
                await asyncio.to_thread(upload.add, data)
                await self._text({"type": "remote_ack", "session": key, "stream": stream, "bytes": len(data)})
            if upload.complete:
                session.uploads.pop(stream, None)
                found = await asyncio.to_thread(upload.finish)
                await self._done(key, stream, size=upload.received, sha256=found)
        except (files.FileError, OSError) as error:
            session.uploads.pop(stream, None)
            upload.abandon()
            await self._done(key, stream, error=str(error))

    async def _reply(self, key: Any, request: Any, *, result: dict[str, Any] | None = None, error: str = "") -> None:
        await self._text({"type": "remote_reply", "session": key if isinstance(key, str) else "",
                          "request": request if isinstance(request, int) else 0, "ok": not error,
                          "result": result or {}, "error": error[:500]})

    async def _done(self, key: str, stream: int, *, size: int = 0, sha256: str = "", error: str = "") -> None:
        await self._text({"type": "remote_done", "session": key, "request": stream, "ok": not error, "size": size,
                          "sha256": sha256, "error": error[:500]})


def _size(value: Any, default: int) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) and 0 < value < 1000 else default

