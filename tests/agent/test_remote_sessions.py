"""The agent's side of remote sessions, in-process with a real pseudo-terminal: only an envelope signed by the
pinned key opens a session, never twice (even after a restart); the shell's output keeps to its window until
acknowledged; closing kills the whole process tree; files move with their checksums checked."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import json
import os
import secrets
import time
import uuid

import psutil
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from fleetwatch_agent.envelope import canonical_json
from fleetwatch_agent.remote.sessions import RemoteSessions
from fleetwatch_agent.remote.wire import FILE, TERMINAL, WINDOW, pack, unpack

DEVICE_ID = 7


def _public(key: Ed25519PrivateKey) -> str:
    return base64.b64encode(key.public_key().public_bytes(serialization.Encoding.Raw,
                                                          serialization.PublicFormat.Raw)).decode()


def _signed(key: Ed25519PrivateKey, envelope: dict, frame_type: str, **extra) -> dict:
    return {"type": frame_type, "envelope": envelope,
            "signature": base64.b64encode(key.sign(canonical_json(envelope))).decode(), **extra}


def open_frame(key, *, session: str | None = None, kind: str = "shell", device_id: int = DEVICE_ID,
               expires_in: int = 60, issued_ago: int = 0, **fields) -> dict:
    now = int(time.time()) - issued_ago
    envelope = {"v": 1, "purpose": "remote_session", "session": session or uuid.uuid4().hex, "device_id": device_id,
                "kind": kind, "user": "tech", "run_as": "", "shell": "sh", "consent": False, "banner": "",
                "idle_seconds": 900, "max_file_bytes": 10 * 1024 * 1024, "issued": now, "expires": now + expires_in,
                "nonce": secrets.token_hex(16), **fields}
    return _signed(key, envelope, "remote_open", cols=80, rows=24)


def request_frame(key, session: str, request: int, op: str, **fields) -> dict:
    now = int(time.time())
    envelope = {"v": 1, "purpose": "remote_request", "session": session, "device_id": DEVICE_ID,
                "request": request, "op": op, "path": "", "to": "", "size": 0, "sha256": "", "issued": now,
                "expires": now + 60, "nonce": secrets.token_hex(16), **fields}
    return _signed(key, envelope, "remote_request")


class Server:
    """Stands in for the server's side of the agent socket: collects what the agent sends."""

    def __init__(self) -> None:
        self.frames: list[dict] = []
        self.data: list = []
        self.changed = asyncio.Event()

    async def text(self, frame: dict) -> None:
        self.frames.append(json.loads(json.dumps(frame)))
        self.changed.set()

    async def bytes(self, raw: bytes) -> None:
        self.data.append(unpack(raw))
        self.changed.set()

    async def wait_for(self, predicate, timeout: float = 10):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for frame in self.frames:
                if predicate(frame):
                    return frame
            self.changed.clear()
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self.changed.wait(), 0.2)
        raise AssertionError(f"nothing matched among {self.frames}")

    def output(self, session: str) -> bytes:
        return b"".join(frame.data for frame in self.data if frame.session == session and frame.kind == TERMINAL)


def _sessions(tmp_path, key, **options) -> tuple[RemoteSessions, Server]:
    remote = RemoteSessions(state_dir=tmp_path, device_id=DEVICE_ID, pinned_key=lambda: _public(key),
                            complete_since=time.time() - 3600, **options)
    server = Server()
    remote.attach(send_text=server.text, send_bytes=server.bytes)
    return remote, server


async def _wait_output(server: Server, session: str, text: bytes, timeout: float = 10) -> bytes:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if text in server.output(session):
            return server.output(session)
        await asyncio.sleep(0.05)
    raise AssertionError(f"{text!r} never appeared in {server.output(session)[-500:]!r}")


def test_a_signed_envelope_opens_a_shell_that_answers_and_resizes(tmp_path):
    key = Ed25519PrivateKey.generate()

    async def scenario():
        remote, server = _sessions(tmp_path, key)
        frame = open_frame(key)
        session = frame["envelope"]["session"]
        await remote.handle(frame)
        opened = await server.wait_for(lambda f: f["type"] in ("remote_opened", "remote_refused"))
        assert opened["type"] == "remote_opened", opened
        await remote.handle_data(pack(kind=TERMINAL, session=session, stream=0, data=b"echo hi-$((40+2))\r"))
        await _wait_output(server, session, b"hi-42")
        await remote.handle({"type": "remote_resize", "session": session, "cols": 132, "rows": 43})
        await remote.handle_data(pack(kind=TERMINAL, session=session, stream=0, data=b"stty size\r"))
        await _wait_output(server, session, b"43 132")
        await remote.handle_data(pack(kind=TERMINAL, session=session, stream=0, data=b"exit 3\r"))
        closed = await server.wait_for(lambda f: f["type"] == "remote_closed")
        assert closed["exit_code"] == 3 and closed["reason"] == "the shell exited"
        await remote.detach()

    asyncio.run(scenario())


@pytest.mark.parametrize("case", ["unsigned", "bad_signature", "tampered", "expired", "wrong_device", "replayed",
                                  "replayed_after_restart", "not_a_session_envelope", "bad_account"])
def test_bad_envelopes_open_nothing(tmp_path, case):
    key, other = Ed25519PrivateKey.generate(), Ed25519PrivateKey.generate()
    good = open_frame(key)
    tampered = json.loads(json.dumps(good))
    tampered["envelope"]["run_as"] = "root"
    frames = {
        "unsigned": {**good, "signature": ""},
        "bad_signature": open_frame(other),
        "tampered": tampered,
        "expired": open_frame(key, expires_in=-1),
        "wrong_device": open_frame(key, device_id=DEVICE_ID + 1),
        "not_a_session_envelope": open_frame(key, purpose="remote_request"),
        "bad_account": open_frame(key, run_as="../../root;"),
    }
    expected = {"unsigned": "unsigned", "bad_signature": "bad_signature", "tampered": "bad_signature",
                "expired": "expired", "wrong_device": "wrong_device", "replayed": "replayed",
                "replayed_after_restart": "replayed", "not_a_session_envelope": "malformed",
                "bad_account": "malformed"}

    async def scenario():
        remote, server = _sessions(tmp_path, key)
        if case.startswith("replayed"):
            await remote.handle(good)
            await server.wait_for(lambda f: f["type"] == "remote_opened")
            if case == "replayed_after_restart":
                await remote.detach()  # the agent restarts: a new process reads the nonces back from disk
                remote, server = _sessions(tmp_path, key)
            await remote.handle(good)
        else:
            await remote.handle(frames[case])
        refused = await server.wait_for(lambda f: f["type"] == "remote_refused")
        assert refused["reason"] == expected[case], refused
        assert len(remote.sessions) == (1 if case == "replayed" else 0)  # the first use only
        await remote.detach()

    asyncio.run(scenario())


def test_output_waits_for_acknowledgements_and_closing_kills_the_whole_tree(tmp_path):
    key = Ed25519PrivateKey.generate()

    async def scenario():
        remote, server = _sessions(tmp_path, key)
        frame = open_frame(key)
        session = frame["envelope"]["session"]
        await remote.handle(frame)
        opened = await server.wait_for(lambda f: f["type"] == "remote_opened")
        shell = psutil.Process(opened["pid"])
        # A background job of its own process group, and a flood of output nobody acknowledges.
        await remote.handle_data(pack(kind=TERMINAL, session=session, stream=0,
                                      data=b"sleep 300 & echo started; yes flood | head -c 3000000\r"))
        await _wait_output(server, session, b"started")
        await asyncio.sleep(1.5)
        held = len(server.output(session))
        assert held <= WINDOW + 64 * 1024, held  # the shell waits; the agent holds nothing beyond the window
        remote.sessions[session].terminal.acknowledged(held)
        await asyncio.sleep(0.5)
        assert len(server.output(session)) > held  # acknowledged: it reads on
        family = [shell, *shell.children(recursive=True)]
        assert any("sleep" in " ".join(p.cmdline()) for p in family)
        await remote.handle({"type": "remote_close", "session": session, "reason": "done"})
        await asyncio.sleep(0.2)
        _, alive = psutil.wait_procs(family, timeout=5)
        assert not alive, [p.cmdline() for p in alive]
        assert session not in remote.sessions
        await remote.detach()

    asyncio.run(scenario())


def test_files_list_upload_download_rename_delete_with_checksums(tmp_path):
    key = Ed25519PrivateKey.generate()
    area = tmp_path / "area"
    area.mkdir()
    (area / "notes.txt").write_text("hello\n")
    content = os.urandom(300_000)
    digest = hashlib.sha256(content).hexdigest()

    async def scenario():
        remote, server = _sessions(tmp_path / "state", key)
        frame = open_frame(key, kind="files")
        session = frame["envelope"]["session"]
        await remote.handle(frame)
        await server.wait_for(lambda f: f["type"] == "remote_opened")

        await remote.handle(request_frame(key, session, 1, "list", path=str(area)))
        listing = await server.wait_for(lambda f: f["type"] == "remote_reply" and f["request"] == 1)
        assert [entry["name"] for entry in listing["result"]["entries"]] == ["notes.txt"]

        target = str(area / "upload.bin")
        await remote.handle(request_frame(key, session, 2, "upload", path=target, size=len(content), sha256=digest))
        assert (await server.wait_for(lambda f: f["type"] == "remote_reply" and f["request"] == 2))["ok"]
        for start in range(0, len(content), 64 * 1024):
            await remote.handle_data(pack(kind=FILE, session=session, stream=2,
                                          data=content[start:start + 64 * 1024]))
        done = await server.wait_for(lambda f: f["type"] == "remote_done" and f["request"] == 2)
        assert done["ok"] and done["sha256"] == digest
        assert (area / "upload.bin").read_bytes() == content

        # A damaged upload replaces nothing.
        await remote.handle(request_frame(key, session, 3, "upload", path=str(area / "notes.txt"), size=5,
                                          sha256=hashlib.sha256(b"right").hexdigest()))
        await server.wait_for(lambda f: f["type"] == "remote_reply" and f["request"] == 3)
        await remote.handle_data(pack(kind=FILE, session=session, stream=3, data=b"wrong"))
        damaged = await server.wait_for(lambda f: f["type"] == "remote_done" and f["request"] == 3)
        assert not damaged["ok"] and "damaged" in damaged["error"]
        assert (area / "notes.txt").read_text() == "hello\n"
        assert not [p for p in area.iterdir() if p.name.startswith(".fleetwatch-upload-")]

        await remote.handle(request_frame(key, session, 4, "download", path=target))
        reply = await server.wait_for(lambda f: f["type"] == "remote_reply" and f["request"] == 4)
        assert reply["result"]["size"] == len(content)
        while not any(f["type"] == "remote_done" and f["request"] == 4 for f in server.frames):
            got = sum(len(d.data) for d in server.data if d.stream == 4)
            await remote.handle({"type": "remote_ack", "session": session, "stream": 4, "bytes": 64 * 1024})
            await asyncio.sleep(0.05)
            assert got <= len(content)
        downloaded = b"".join(d.data for d in server.data if d.kind == FILE and d.stream == 4)
        finished = await server.wait_for(lambda f: f["type"] == "remote_done" and f["request"] == 4)
        assert downloaded == content and finished["sha256"] == digest

        await remote.handle(request_frame(key, session, 5, "rename", path=target, to=str(area / "moved.bin")))
        assert (await server.wait_for(lambda f: f["type"] == "remote_reply" and f["request"] == 5))["ok"]
        await remote.handle(request_frame(key, session, 6, "delete", path=str(area / "moved.bin")))
        assert (await server.wait_for(lambda f: f["type"] == "remote_reply" and f["request"] == 6))["ok"]
        await remote.handle(request_frame(key, session, 7, "delete", path=str(area / "missing")))
        missing = await server.wait_for(lambda f: f["type"] == "remote_reply" and f["request"] == 7)
        assert not missing["ok"] and "does not exist" in missing["error"]
        await remote.handle(request_frame(key, session, 8, "list", path="relative/path"))
        relative = await server.wait_for(lambda f: f["type"] == "remote_reply" and f["request"] == 8)
        assert "absolute" in relative["error"]
        # A request for a session that is not a files session, or not open, is refused.
        await remote.handle(request_frame(key, uuid.uuid4().hex, 9, "list", path="/"))
        assert not (await server.wait_for(lambda f: f["type"] == "remote_reply" and f["request"] == 9))["ok"]
        assert sorted(p.name for p in area.iterdir()) == ["notes.txt"]
        await remote.detach()

    asyncio.run(scenario())


def test_consent_is_asked_and_a_denial_opens_nothing(tmp_path):
    key = Ed25519PrivateKey.generate()
    answer = tmp_path / "answer.sh"
    asked = tmp_path / "asked.txt"
    answer.write_text(f'#!/bin/sh\necho "$FLEETWATCH_CONSENT_MESSAGE" > {asked}\nexit "$(cat {tmp_path}/exit)"\n')
    answer.chmod(0o755)

    async def scenario():
        remote, server = _sessions(tmp_path / "state", key, consent_command=[str(answer)])
        (tmp_path / "exit").write_text("1")
        await remote.handle(open_frame(key, consent=True, user="Dana"))
        refused = await server.wait_for(lambda f: f["type"] == "remote_refused")
        assert refused["reason"] == "consent_denied"
        assert "Dana from your IT provider asks to open a remote shell" in asked.read_text()
        (tmp_path / "exit").write_text("0")
        await remote.handle(open_frame(key, consent=True))
        await server.wait_for(lambda f: f["type"] == "remote_opened")
        await remote.detach()

    asyncio.run(scenario())


def test_a_disabled_agent_refuses_and_a_lost_connection_ends_every_session(tmp_path):
    key = Ed25519PrivateKey.generate()

    async def scenario():
        off, server = _sessions(tmp_path / "off", key, enabled=False)
        await off.handle(open_frame(key))
        assert (await server.wait_for(lambda f: f["type"] == "remote_refused"))["reason"] == "disabled"
        remote, server = _sessions(tmp_path / "on", key)
        await remote.handle(open_frame(key))
        opened = await server.wait_for(lambda f: f["type"] == "remote_opened")
        shell = psutil.Process(opened["pid"])
        await remote.detach()
        _, alive = psutil.wait_procs([shell], timeout=5)
        assert not alive and not remote.sessions

    asyncio.run(scenario())


def test_the_default_shell_is_the_accounts_login_shell_and_a_named_one_is_found_on_the_path():
    # The end-to-end tests start plain sh (a login shell reads the machine's profile files); what the default
    # starts is checked here without starting it.
    import pwd
    import shutil

    from fleetwatch_agent.remote.terminal import ShellRefused, shell_command

    entry = pwd.getpwuid(os.geteuid())
    default = shell_command(run_as="", shell="")
    expected = entry.pw_shell if entry.pw_shell and os.path.exists(entry.pw_shell) else shutil.which("bash")
    assert default.argv == [expected, "-l"] and default.account is None
    assert default.env["HOME"] == entry.pw_dir and default.env["USER"] == entry.pw_name
    assert default.env["TERM"] == "xterm-256color" and "VIRTUAL_ENV" not in default.env
    assert shell_command(run_as="", shell="sh").argv == [shutil.which("sh"), "-l"]  # noqa: S604 (a name, no shell=True)
    with pytest.raises(ShellRefused, match="no no-such-shell"):
        shell_command(run_as="", shell="no-such-shell")  # noqa: S604 (a shell's name)
    refusal = "no account" if os.geteuid() == 0 else "without root"
    with pytest.raises(ShellRefused, match=refusal):
        shell_command(run_as="no-such-account-here", shell="")
