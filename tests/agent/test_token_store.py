"""The agent's token at rest: AES-256-GCM under a local key, 0600 files, tampering detected."""

import stat
import time

import pytest
from fleetwatch_agent.state import AgentState, StateStore, TokenStoreError, mask

TOKEN = "fwa_0123456789ab_" + "S" * 43


@pytest.fixture
def store(tmp_path):
    store = StateStore(tmp_path / "state")
    store.save(AgentState(server="https://rmm.example.com", device_id=7, enrolled_at=time.time()), TOKEN)
    return store


def test_round_trip_and_permissions(store):
    assert store.load_token() == TOKEN
    for path in (store.token_path, store.key_path, store.state_path):
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(store.directory.stat().st_mode) == 0o700


def test_no_plaintext_on_disk(store):
    for path in (store.token_path, store.state_path, store.key_path):
        assert TOKEN.encode() not in path.read_bytes()
        assert b"S" * 43 not in path.read_bytes()


def test_a_flipped_byte_is_detected(store):
    blob = bytearray(store.token_path.read_bytes())
    blob[-1] ^= 0x01
    store.token_path.write_bytes(bytes(blob))
    with pytest.raises(TokenStoreError, match="integrity"):
        store.load_token()


def test_a_moved_or_edited_state_is_detected(store):
    state = store.load_state()
    state.device_id = 8  # the token is bound to its device and server
    with pytest.raises(TokenStoreError, match="integrity"):
        store.load_token(state)


def test_another_key_is_detected(store):
    store.key_path.write_bytes(b"\x00" * 32)
    with pytest.raises(TokenStoreError):
        store.load_token()


def test_damaged_files_are_reported(store):
    store.key_path.write_bytes(b"short")
    with pytest.raises(TokenStoreError, match="damaged"):
        store.load_token()


def test_mask_shows_only_the_key_id():
    assert mask(TOKEN) == "fwa_0123456789ab_…"


def test_unenroll_removes_everything(store):
    assert len(store.remove()) == 3
    assert not store.is_enrolled()
