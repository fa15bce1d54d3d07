"""Remote sessions end to end: a real daphne, the real agent process, the browser's socket played by a websocket
client signed in as a technician. A shell answers, resizes and is recorded; files go both ways with their
checksums compared; a revoked permission ends an open session within seconds; envelopes the server did not
sign, or signed once already, open nothing on the agent."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import os
import struct
import time

import psutil
import pytest
import websockets
from channels.layers import get_channel_layer
from django.db import connection
from django.test import Client

from portal.access import Role, actor_for_user
from portal.accounts import services as account_services
from portal.audit.models import AuditEvent
from portal.remote import services
from portal.remote.envelopes import session_frame
from portal.remote.models import FileTransfer, RemoteSession
from portal.remote.selectors import transcript_for
from tests import factories
from tests.actions.agent_harness import AgentHandle
from tests.live import wait_for

pytestmark = pytest.mark.django_db(transaction=True)


def _cookie(user) -> str:
    browser = Client()
    browser.force_login(user)
    return f"sessionid={browser.cookies['sessionid'].value}"


@pytest.fixture
def agent(live_daphne, tenant_a, tmp_path, technician):
    # The technician exists before the server relays anything: creating a user announces a change of rights,
    # which would (rightly) end a session opened a moment later.
    handle = AgentHandle(directory=tmp_path / "agent", server_url=live_daphne.url, site=tenant_a.site)
    handle.start()
    wait_for(lambda: _fresh_device(handle.device.pk).agent_channel, what="the agent's channel recorded")
    yield handle
    if handle.process is not None and handle.process.poll() is None:
        handle.process.kill()


@pytest.fixture
def technician(tenant_a):
    return factories.UserFactory(username="remote-tech", role=Role.OPERATOR, companies=[tenant_a.company],
                                 can_open_remote_sessions=True)


def _fresh_device(pk):
    from portal.inventory.models import Device

    connection.close()
    return Device.objects.get(pk=pk)


def _fresh(session: RemoteSession) -> RemoteSession:
    connection.close()
    return RemoteSession.objects.get(pk=session.pk)


class Browser:
    """The session page's socket: JSON events and binary data messages."""

    def __init__(self, socket) -> None:
        self.socket = socket
        self.events: list[dict] = []
        self.output = bytearray()
        self.files: dict[int, bytearray] = {}

    async def pump(self, until, timeout: float = 20):
        deadline = time.monotonic() + timeout
        while not until():
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AssertionError(f"timed out; events {self.events[-5:]}, output {bytes(self.output[-300:])!r}")
            try:
                message = await asyncio.wait_for(self.socket.recv(), remaining)
            except websockets.ConnectionClosed as closed:
                if until():
                    return
                raise AssertionError(f"the server closed the socket; events {self.events[-5:]}") from closed
            if isinstance(message, bytes):
                kind, stream = struct.unpack(">BI", message[:5])
                data = message[5:]
                if kind == 1:
                    self.output += data
                    await self.socket.send(json.dumps({"op": "ack", "stream": 0, "bytes": len(data)}))
                else:
                    self.files.setdefault(stream, bytearray()).extend(data)
                    await self.socket.send(json.dumps({"op": "ack", "stream": stream, "bytes": len(data)}))
            else:
                self.events.append(json.loads(message))

    def event(self, name: str, **match) -> dict | None:
        for event in self.events:
            if event.get("event") == name and all(event.get(k) == v for k, v in match.items()):
                return event
        return None

    async def type(self, text: str) -> None:
        await self.socket.send(struct.pack(">BI", 1, 0) + text.encode())


# The account's own shell is a login shell that reads the machine's profile files, which may run anything (pyenv's
# init waits up to 60 s on the lock a shell killed during its rehash leaves behind); a test's shell is plain sh.
TEST_SHELL = "sh"


def _open(user, device, kind):
    return services.open_session(actor=actor_for_user(user), device_id=device.pk, kind=kind,
                                 shell=TEST_SHELL if kind == "shell" else "")


def test_a_shell_answers_resizes_and_is_recorded(live_daphne, agent, technician):
    session = _open(technician, agent.device, "shell")
    headers = {"Cookie": _cookie(technician), "Origin": live_daphne.url}

    async def scenario():
        async with websockets.connect(f"{live_daphne.ws_url}/ws/remote/{session.key}/?cols=100&rows=30",
                                      additional_headers=headers) as socket:
            browser = Browser(socket)
            await browser.pump(lambda: browser.event("opened"))
            await browser.type("echo hi-$((40+2)); printf '\\303\\251t\\303\\251\\n'\r")
            await browser.pump(lambda: b"hi-42" in browser.output and "été".encode() in browser.output)
            await socket.send(json.dumps({"op": "resize", "cols": 120, "rows": 40}))
            await browser.type("stty size\r")
            await browser.pump(lambda: b"40 120" in browser.output)
            await browser.type("exit 5\r")
            await browser.pump(lambda: browser.event("closed"))
            return browser

    browser = asyncio.run(scenario())
    assert browser.event("closed")["exit_code"] == 5
    ended = _fresh(session)
    assert ended.status == "ended" and ended.end_reason == "the shell exited" and ended.exit_code == 5
    assert ended.bytes_from_device >= len(browser.output) > 0 and ended.bytes_to_device > 20
    transcript = wait_for(lambda: (t := transcript_for(actor=actor_for_user(technician), session=_fresh(session)))
                          and "hi-42" in t.output and t, what="the transcript stored")
    assert any("echo hi-" in keys for _, keys in transcript.keystrokes)
    assert transcript.resizes == [(transcript.resizes[0][0], "120x40")]
    logged = set(AuditEvent.objects.filter(object_id=str(session.pk)).values_list("action", flat=True))
    assert {"remote_session.requested", "remote_session.ended"} <= logged


def test_files_move_both_ways_with_checksums_and_are_recorded(live_daphne, agent, technician, tmp_path):
    area = tmp_path / "files"
    area.mkdir()
    report = os.urandom(700_000)
    (area / "report.log").write_bytes(report)
    upload = os.urandom(500_000)
    session = _open(technician, agent.device, "files")
    headers = {"Cookie": _cookie(technician), "Origin": live_daphne.url}

    async def scenario():
        async with websockets.connect(f"{live_daphne.ws_url}/ws/remote/{session.key}/",
                                      additional_headers=headers) as socket:
            browser = Browser(socket)
            await browser.pump(lambda: browser.event("opened"))
            await socket.send(json.dumps({"op": "list", "id": 1, "path": str(area)}))
            await browser.pump(lambda: browser.event("reply", id=1))
            await socket.send(json.dumps({"op": "download", "id": 2, "path": str(area / "report.log")}))
            await browser.pump(lambda: browser.event("done", id=2))
            stream = browser.event("reply", id=2)["stream"]
            digest = hashlib.sha256(upload).hexdigest()
            await socket.send(json.dumps({"op": "upload", "id": 3, "path": str(area / "new.bin"),
                                          "size": len(upload), "sha256": digest}))
            await browser.pump(lambda: browser.event("reply", id=3))
            upload_stream = browser.event("reply", id=3)["stream"]
            sent = acked = 0
            while sent < len(upload):
                while sent < len(upload) and sent - acked < 256 * 1024:
                    await socket.send(struct.pack(">BI", 2, upload_stream) + upload[sent:sent + 65536])
                    sent += len(upload[sent:sent + 65536])
                def moved_on(before: int = acked) -> bool:
                    return browser.event("done", id=3) is not None or any(
                        e.get("event") == "progress" and e["bytes"] > before for e in browser.events)

                await browser.pump(moved_on)
                acked = max([e["bytes"] for e in browser.events if e.get("event") == "progress"] or [0])
            await browser.pump(lambda: browser.event("done", id=3))
            await socket.send(json.dumps({"op": "rename", "id": 4, "path": str(area / "new.bin"),
                                          "to": str(area / "renamed.bin")}))
            await browser.pump(lambda: browser.event("done", id=4))
            await socket.send(json.dumps({"op": "delete", "id": 5, "path": str(area / "report.log")}))
            await browser.pump(lambda: browser.event("done", id=5))
            # A path with a NUL, or an upload whose checksum is not hex, is refused by the server itself.
            await socket.send(json.dumps({"op": "delete", "id": 6, "path": str(area) + "/x\x00y"}))
            await browser.pump(lambda: browser.event("error"))
            await socket.send(json.dumps({"op": "upload", "id": 7, "path": str(area / "bad.bin"), "size": 1,
                                          "sha256": "z" * 64}))
            await browser.pump(lambda: browser.event("reply", id=7))
            await socket.send(json.dumps({"op": "close"}))
            await browser.pump(lambda: browser.event("closed"))
            return browser, stream

    browser, stream = asyncio.run(scenario())
    listing = browser.event("reply", id=1)["result"]
    assert [entry["name"] for entry in listing["entries"]] == ["report.log"]
    downloaded = bytes(browser.files[stream])
    assert hashlib.sha256(downloaded).hexdigest() == browser.event("done", id=2)["sha256"]
    assert downloaded == report
    assert browser.event("done", id=3)["ok"] and (area / "renamed.bin").read_bytes() == upload
    assert not (area / "report.log").exists()
    transfers = {t.operation: t for t in FileTransfer.objects.filter(session=session)}
    assert transfers["download"].sha256 == hashlib.sha256(downloaded).hexdigest()
    assert transfers["download"].size == 700_000 and transfers["download"].status == "succeeded"
    assert transfers["upload"].sha256 == hashlib.sha256(upload).hexdigest() and transfers["upload"].size == 500_000
    assert transfers["rename"].target_path.endswith("renamed.bin") and transfers["delete"].status == "succeeded"
    assert browser.event("reply", id=7)["ok"] is False and len(transfers) == 4
    assert _fresh(session).end_reason == "closed by the technician"


def test_a_revoked_permission_ends_an_open_session_within_seconds(live_daphne, agent, technician, admin_a):
    session = _open(technician, agent.device, "shell")
    headers = {"Cookie": _cookie(technician), "Origin": live_daphne.url}

    async def scenario():
        async with websockets.connect(f"{live_daphne.ws_url}/ws/remote/{session.key}/",
                                      additional_headers=headers) as socket:
            browser = Browser(socket)
            await browser.pump(lambda: browser.event("opened"))
            await browser.type("echo $$\r")
            await browser.pump(lambda: browser.output.count(b"\n") >= 2)
            started = time.monotonic()
            await asyncio.to_thread(_revoke, admin_a, technician)
            with contextlib.suppress(websockets.ConnectionClosed):
                await browser.pump(lambda: browser.event("closed"), timeout=10)
            return time.monotonic() - started

    took = asyncio.run(scenario())
    assert took < 5, took
    ended = _fresh(session)
    assert ended.status == "ended" and "rights changed" in ended.end_reason
    shells = wait_for(lambda: not _agent_shells(agent) or None, timeout=10, what="the shell killed on the agent")
    assert shells is True


def _revoke(admin, user) -> None:
    try:
        account_services.update_user(actor=actor_for_user(admin), user=user, can_open_remote_sessions=False)
    finally:
        connection.close()


def _agent_shells(agent) -> list:
    found = []
    for child in psutil.Process(agent.process.pid).children(recursive=True):
        with contextlib.suppress(psutil.Error):
            found.append(child)
    return found


def test_envelopes_not_signed_by_the_server_or_used_twice_are_refused_by_the_agent(live_daphne, agent, technician):
    session = _open(technician, agent.device, "shell")
    genuine = session_frame(session, banner="")
    forged = json.loads(json.dumps(genuine))
    forged["envelope"]["run_as"] = "nobody"
    channel = _fresh_device(agent.device.pk).agent_channel

    async def scenario():
        layer = get_channel_layer()
        mine = await layer.new_channel()
        answers = []
        for frame in (forged, genuine, genuine):
            await layer.send(channel, {"type": "remote.open", "session": session.key.hex, "reply_to": mine,
                                       "frame": frame})
            answer = await asyncio.wait_for(layer.receive(mine), 15)
            answers.append(answer["frame"])
        await layer.send(channel, {"type": "remote.to_agent", "session": session.key.hex, "reply_to": mine,
                                   "frame": {"type": "remote_close", "session": session.key.hex, "reason": "test"}})
        return answers

    forged_answer, first, replay = asyncio.run(scenario())
    assert (forged_answer["type"], forged_answer["reason"]) == ("remote_refused", "bad_signature")
    assert first["type"] == "remote_opened"
    assert (replay["type"], replay["reason"]) == ("remote_refused", "replayed")
