"""The running agent keeps cryptography out of its resident process: signatures and the token file are
handled by a short-lived child (fleetwatch_agent.crypto), and a child that cannot run refuses, never passes."""

import base64
import hashlib
import json
import subprocess
import sys
import time

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from fleetwatch_agent import crypto, envelope, self_update
from fleetwatch_agent.state import AgentState, StateStore, TokenStoreError

TOKEN = "fwa_0123456789ab_" + "T" * 43


@pytest.fixture
def in_child(monkeypatch):
    """Every operation goes through the child process, as in the running agent (cryptography is loaded here)."""
    monkeypatch.setattr(crypto, "always_in_child", True)


@pytest.fixture
def signer():
    private = Ed25519PrivateKey.generate()
    public = base64.b64encode(private.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)).decode()
    return private, public


def _signature(private, data: bytes) -> str:
    return base64.b64encode(private.sign(data)).decode()


def test_the_running_agent_never_imports_cryptography():
    """What `fleetwatch-agent run` loads to start (cli, transport, actions, remote sessions, updates)."""
    code = ("import sys, fleetwatch_agent.cli, fleetwatch_agent.transport, fleetwatch_agent.actions, "
            "fleetwatch_agent.remote.sessions, fleetwatch_agent.self_update; "
            "print(sorted(name for name in sys.modules if name.split('.')[0] == 'cryptography'))")
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert json.loads(loaded.replace("'", '"')) == []


def test_signatures_are_checked_by_the_child(in_child, signer):
    private, public = signer
    data = b"canonical envelope"
    assert crypto.verify_signature(public_key=public, signature=_signature(private, data), data=data) is True
    assert crypto.verify_signature(public_key=public, signature=_signature(private, data), data=data + b"!") is False
    other = Ed25519PrivateKey.generate()
    assert crypto.verify_signature(public_key=public, signature=_signature(other, data), data=data) is False
    assert crypto.verify_signature(public_key="not base64!", signature="AAAA", data=data) is False


def test_the_token_file_round_trips_through_the_child(in_child, tmp_path):
    store = StateStore(tmp_path / "state")
    store.save(AgentState(server="https://rmm.example.com", device_id=7, enrolled_at=time.time()), TOKEN)
    assert TOKEN.encode() not in store.token_path.read_bytes()
    assert store.load_token() == TOKEN
    blob = bytearray(store.token_path.read_bytes())
    blob[-1] ^= 0x01
    store.token_path.write_bytes(bytes(blob))
    with pytest.raises(TokenStoreError, match="integrity"):
        store.load_token()


def test_the_child_and_the_in_process_path_agree(tmp_path, monkeypatch):
    """A token sealed in-process (enroll) opens in the child (run), and the other way round."""
    state = AgentState(server="https://rmm.example.com", device_id=9, enrolled_at=time.time())
    store = StateStore(tmp_path / "a")
    store.save(state, TOKEN)
    monkeypatch.setattr(crypto, "always_in_child", True)
    assert store.load_token(state) == TOKEN
    other = StateStore(tmp_path / "b")
    other.save(state, TOKEN)
    monkeypatch.setattr(crypto, "always_in_child", False)
    assert other.load_token(state) == TOKEN


@pytest.mark.parametrize("request_text", [b"", b"not json", b"[1, 2]", b'{"op": "format_disk"}',
                                          b'{"op": "open", "key": 5}'])
def test_a_malformed_request_gets_a_clear_error_and_no_answer(request_text):
    finished = subprocess.run([sys.executable, "-m", "fleetwatch_agent.crypto"], input=request_text,
                              capture_output=True, check=False)
    assert finished.returncode == 2
    assert finished.stdout == b""
    assert finished.stderr.strip()


def test_a_checker_that_cannot_run_refuses_the_action(in_child, signer, monkeypatch):
    private, public = signer
    monkeypatch.setattr(sys, "executable", "/nonexistent/python")
    with pytest.raises(crypto.CryptoUnavailable):
        crypto.verify_signature(public_key=public, signature=_signature(private, b"x"), data=b"x")
    body = {"action_id": 1, "device_id": 3}
    frame = {"envelope": body, "signature": _signature(private, envelope.canonical_json(body)), "payload": {}}
    with pytest.raises(envelope.Refused) as refused:
        envelope.verify(frame, pinned_key=public, device_id=3, now=time.time())
    assert refused.value.reason == "unverifiable"
    assert envelope.endorsed(pinned_key=public, new_key="new", endorsement="c2ln") is False


def test_a_checker_that_cannot_run_refuses_an_update(in_child, signer, monkeypatch):
    private, public = signer
    wheel = b"wheel bytes"
    offer = self_update.Offer(version="9.9.9", wheel="fleetwatch_agent-9.9.9-py3-none-any.whl",
                              sha256=hashlib.sha256(wheel).hexdigest(), signature=_signature(private, wheel))
    self_update.check(wheel, offer=offer, pinned_key=public)  # checked by the child, and good
    with pytest.raises(self_update.UpdateRefused, match="not signed"):
        self_update.check(wheel, offer=offer, pinned_key=base64.b64encode(b"\0" * 32).decode())
    monkeypatch.setattr(sys, "executable", "/nonexistent/python")
    with pytest.raises(self_update.UpdateRefused, match="could not be checked"):
        self_update.check(wheel, offer=offer, pinned_key=public)
