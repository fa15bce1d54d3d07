"""What enrollment leaves on disk: the agent token, encrypted with AES-256-GCM under a local key file,
and a small state file (server, device id, pinned signing key, last contact). All files are 0600."""

from __future__ import annotations

import json
import os
import secrets
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from fleetwatch_agent import crypto

STATE_FILE = "agent.json"
TOKEN_FILE = "token.enc"  # noqa: S105  (a file name, not a secret)
KEY_FILE = "token.key"
TOKEN_FORMAT_VERSION = b"fw1"


class TokenStoreError(Exception):
    """The stored token is missing, unreadable or has been tampered with."""


@dataclass
class AgentState:
    server: str
    device_id: int
    enrolled_at: float
    signing_public_key: str | None = None
    heartbeat_interval: int = 30
    last_contact: float | None = None


def _write_private(path: Path, data: bytes) -> None:
    """Write a file only its owner can read, replacing it atomically."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    temporary = path.with_suffix(path.suffix + ".tmp")
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())
    os.chmod(temporary, 0o600)
    os.replace(temporary, path)


class StateStore:
    def __init__(self, directory: Path) -> None:
        self.directory = directory

    @property
    def state_path(self) -> Path:
        return self.directory / STATE_FILE

    @property
    def token_path(self) -> Path:
        return self.directory / TOKEN_FILE

    @property
    def key_path(self) -> Path:
        return self.directory / KEY_FILE

    def is_enrolled(self) -> bool:
        return self.state_path.exists() and self.token_path.exists()

    def save(self, state: AgentState, token: str) -> None:
        key = secrets.token_bytes(32)
        nonce = secrets.token_bytes(12)
        # The device id and server are bound in as associated data: a token file moved to another
        # agent's state, or an edited state file, fails to decrypt.
        ciphertext = crypto.seal_token(key=key, nonce=nonce, token=token, associated_data=self._associated_data(state))
        _write_private(self.key_path, key)
        _write_private(self.token_path, TOKEN_FORMAT_VERSION + nonce + ciphertext)
        self.save_state(state)

    def save_state(self, state: AgentState) -> None:
        _write_private(self.state_path, json.dumps(asdict(state), indent=2).encode())

    def load_state(self) -> AgentState:
        try:
            return AgentState(**json.loads(self.state_path.read_text()))
        except (OSError, ValueError, TypeError) as error:
            raise TokenStoreError(f"Cannot read {self.state_path}: {error}") from error

    def load_token(self, state: AgentState | None = None) -> str:
        state = state or self.load_state()
        try:
            key = self.key_path.read_bytes()
            blob = self.token_path.read_bytes()
        except OSError as error:
            raise TokenStoreError(f"Cannot read the stored token: {error}") from error
        if len(key) != 32 or not blob.startswith(TOKEN_FORMAT_VERSION) or len(blob) < 3 + 12 + 16:
            raise TokenStoreError("The stored token or its key is damaged.")
        nonce, ciphertext = blob[3:15], blob[15:]
        token = crypto.open_token(key=key, nonce=nonce, sealed=ciphertext, associated_data=self._associated_data(state))
        if token is None:
            raise TokenStoreError("The stored token failed its integrity check (tampered or damaged).")
        return token

    def touch_contact(self, state: AgentState) -> None:
        """Record the last contact with the server, at most once a minute (it is shown by `status`)."""
        now = time.time()
        if state.last_contact is None or now - state.last_contact >= 60:
            state.last_contact = now
            self.save_state(state)

    def remove(self) -> list[Path]:
        removed = []
        for path in (self.token_path, self.key_path, self.state_path):
            if path.exists():
                path.unlink()
                removed.append(path)
        return removed

    @staticmethod
    def _associated_data(state: AgentState) -> bytes:
        return f"{state.server}|{state.device_id}".encode()


def mask(token: str) -> str:
    prefix, _, rest = token.partition("_")
    key_id = rest.split("_", 1)[0]
    return f"{prefix}_{key_id}_…"
