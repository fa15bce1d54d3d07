"""The real agent against a stand-in server that sends forged, tampered, expired, replayed and
other-device envelopes: each is refused with its reason, and a valid action runs exactly once."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import secrets
import subprocess
import sys
import time

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from fleetwatch_agent.state import AgentState, StateStore
from websockets.asyncio.server import serve

from portal.actions.signing import ENDORSEMENT_PREFIX, canonical_json
from tests.live import REPO, free_port

DEVICE_ID = 7


def _public(key: Ed25519PrivateKey) -> str:
    return base64.b64encode(key.public_key().public_bytes(serialization.Encoding.Raw,
                                                          serialization.PublicFormat.Raw)).decode()


def _frame(key: Ed25519PrivateKey, action_id: int, payload: dict, *, device_id: int = DEVICE_ID,
           expires_in: int = 600, sent_payload: dict | None = None, queued_ago: int = 0,
           nonce: str | None = None) -> dict:
    now = int(time.time())
    envelope = {"v": 1, "action_id": action_id, "device_id": device_id, "type": "run_script",
                "payload_digest": hashlib.sha256(canonical_json(payload)).hexdigest(), "issued": now,
                "expires": now + expires_in, "queued": now - queued_ago,
                "nonce": secrets.token_hex(16) if nonce is None else nonce}
    signature = base64.b64encode(key.sign(canonical_json(envelope))).decode()
    return {"type": "action", "envelope": envelope, "signature": signature,
            "payload": payload if sent_payload is None else sent_payload}


def _script(content: str) -> dict:
    return {"language": "bash", "content": content, "arguments": [], "environment": {}, "timeout": 30, "run_as": ""}


class StandIn:
    """Accepts the agent, sends frames chosen by the test, records what the agent answers."""

    def __init__(self, welcome: dict) -> None:
        self.welcome = welcome
        self.received: list[dict] = []
        self.outbox: asyncio.Queue[dict] = asyncio.Queue()
        self.connected = asyncio.Event()

    async def handler(self, socket) -> None:
        json.loads(await socket.recv())  # hello
        await socket.send(json.dumps(self.welcome))
        self.connected.set()

        async def pump() -> None:
            while True:
                await socket.send(json.dumps(await self.outbox.get()))

        sender = asyncio.create_task(pump())
        try:
            async for raw in socket:
                frame = json.loads(raw)
                if frame["type"].startswith("action_"):
                    self.received.append(frame)
                    if frame["type"] in ("action_result", "action_refused"):
                        await socket.send(json.dumps({"type": "action_stored", "action_id": frame["action_id"]}))
        finally:
            sender.cancel()

    async def wait_for(self, predicate, timeout: float = 20) -> dict:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for frame in self.received:
                if predicate(frame):
                    return frame
            await asyncio.sleep(0.05)
        raise AssertionError(f"the agent never answered as expected; got {self.received}")


def _run_agent_against(tmp_path, *, pinned: str | None, scenario) -> None:
    port = free_port()
    StateStore(tmp_path / "state").save(AgentState(server=f"http://127.0.0.1:{port}", device_id=DEVICE_ID,
                                                   enrolled_at=time.time(), signing_public_key=pinned),
                                        "fwa_000000000000_" + "x" * 43)
    config = tmp_path / "agent.toml"
    config.write_text(f'state_dir = "{tmp_path / "state"}"\ncollect_software = false\ncollect_updates = false\n'
                      "backoff_initial = 0.2\nbackoff_max = 0.5\n")

    async def main() -> None:
        stand_in = await scenario.make()
        async with serve(stand_in.handler, "127.0.0.1", port):
            agent = subprocess.Popen([sys.executable, "-m", "fleetwatch_agent", "--config", str(config), "run"],
                                     cwd=REPO, stdout=subprocess.DEVNULL, stderr=(tmp_path / "agent.log").open("w"))
            try:
                await asyncio.wait_for(stand_in.connected.wait(), 20)
                await scenario.play(stand_in)
            finally:
                agent.terminate()
                await asyncio.to_thread(agent.wait, 10)

    asyncio.run(main())


@pytest.mark.parametrize("case", ["unsigned", "bad_signature", "tampered", "expired", "wrong_device"])
def test_bad_envelopes_are_refused_and_never_run(tmp_path, case):
    server_key, other_key = Ed25519PrivateKey.generate(), Ed25519PrivateKey.generate()
    marker = tmp_path / "ran.txt"
    payload = _script(f"echo ran >> {marker}")
    frames = {
        "unsigned": {**_frame(server_key, 101, payload), "signature": ""},
        "bad_signature": _frame(other_key, 101, payload),
        "tampered": _frame(server_key, 101, _script("echo harmless"), sent_payload=payload),
        "expired": _frame(server_key, 101, payload, expires_in=-5),
        "wrong_device": _frame(server_key, 101, payload, device_id=DEVICE_ID + 1),
    }

    class Scenario:
        async def make(self):
            return StandIn({"type": "welcome", "device_id": DEVICE_ID, "heartbeat_interval": 30,
                            "signing_public_key": _public(server_key)})

        async def play(self, stand_in):
            await stand_in.outbox.put(frames[case])
            refusal = await stand_in.wait_for(lambda f: f["type"] == "action_refused")
            assert refusal["action_id"] == 101 and refusal["reason"] == case

    _run_agent_against(tmp_path, pinned=_public(server_key), scenario=Scenario())
    assert not marker.exists()


def test_valid_action_runs_once_however_often_it_is_delivered(tmp_path):
    server_key = Ed25519PrivateKey.generate()
    marker = tmp_path / "ran.txt"
    payload = _script(f"echo ran >> {marker}; echo done")

    class Scenario:
        async def make(self):
            return StandIn({"type": "welcome", "device_id": DEVICE_ID, "heartbeat_interval": 30,
                            "signing_public_key": _public(server_key)})

        async def play(self, stand_in):
            first = _frame(server_key, 201, payload)
            await stand_in.outbox.put(first)
            result = await stand_in.wait_for(lambda f: f["type"] == "action_result")
            assert result["status"] == "succeeded" and result["stdout"] == "done\n"
            await stand_in.outbox.put(first)  # the very same envelope again: a replay
            await stand_in.outbox.put(_frame(server_key, 201, payload))  # a redelivery with a fresh nonce
            await stand_in.wait_for(lambda f: f["type"] == "action_refused" and f["reason"] == "replayed")

    _run_agent_against(tmp_path, pinned=_public(server_key), scenario=Scenario())
    assert marker.read_text() == "ran\n"


def test_rotated_key_is_pinned_only_when_the_old_key_endorsed_it(tmp_path):
    old_key, new_key, rogue_key = (Ed25519PrivateKey.generate() for _ in range(3))
    marker = tmp_path / "ran.txt"
    endorsement = base64.b64encode(old_key.sign(ENDORSEMENT_PREFIX + _public(new_key).encode())).decode()

    class Rotated:
        async def make(self):
            return StandIn({"type": "welcome", "device_id": DEVICE_ID, "heartbeat_interval": 30,
                            "signing_public_key": _public(new_key), "signing_key_endorsement": endorsement})

        async def play(self, stand_in):
            await stand_in.outbox.put(_frame(new_key, 301, _script(f"echo ran >> {marker}")))
            assert (await stand_in.wait_for(lambda f: f["type"] == "action_result"))["status"] == "succeeded"

    _run_agent_against(tmp_path, pinned=_public(old_key), scenario=Rotated())
    assert json.loads((tmp_path / "state" / "agent.json").read_text())["signing_public_key"] == _public(new_key)

    class Rogue:
        async def make(self):
            return StandIn({"type": "welcome", "device_id": DEVICE_ID, "heartbeat_interval": 30,
                            "signing_public_key": _public(rogue_key), "signing_key_endorsement": endorsement})

        async def play(self, stand_in):
            await stand_in.outbox.put(_frame(rogue_key, 302, _script(f"echo rogue >> {marker}")))
            refusal = await stand_in.wait_for(lambda f: f["type"] == "action_refused")
            assert refusal["reason"] == "bad_signature"

    (tmp_path / "state" / "actions.json").unlink()
    _run_agent_against(tmp_path, pinned=_public(new_key), scenario=Rogue())
    assert marker.read_text() == "ran\n"
