"""Checking the envelopes that open a remote session and carry each file request.

The server signs the canonical JSON of an envelope with the key this agent pinned at enrollment (the key
that signs actions). An envelope names its purpose, the device, the session, who asked, when it was issued
and when it expires (a minute later), and a nonce this agent has never seen: a tampered, foreign, expired or
replayed envelope is refused, so a process that can talk to agents but does not hold the key cannot open
a shell. Seen nonces are kept on disk until their envelopes have expired, so a restart does not reopen
the replay window.
"""

from __future__ import annotations

import json
import logging
import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fleetwatch_agent.envelope import NONCE_PATTERN, Refused, _verify_signature, canonical_json
from fleetwatch_agent.state import _write_private

logger = logging.getLogger(__name__)
NONCES_FILE = "remote-nonces.json"
CLOCK_SKEW_SECONDS = 300
LONGEST_VALIDITY_SECONDS = 600  # an envelope valid for longer than this was not made by our server
SESSION_PATTERN = re.compile(r"[0-9a-f]{32}")
ACCOUNT_PATTERN = re.compile(r"[A-Za-z_][A-Za-z0-9_.-]{0,31}")
KINDS = {"shell", "files"}
SHELLS = {"", "bash", "sh", "zsh", "powershell", "cmd"}
OPERATIONS = {"list", "download", "upload", "delete", "rename", "mkdir"}
MAX_PATH = 4096


@dataclass(frozen=True)
class SessionGrant:
    session: str
    kind: str
    user: str
    run_as: str
    shell: str
    consent: bool
    banner: str
    idle_seconds: int
    max_file_bytes: int


@dataclass(frozen=True)
class FileRequest:
    session: str
    request: int
    op: str
    path: str
    to: str
    size: int
    sha256: str


class NonceBook:
    """Nonces of accepted envelopes, kept until their envelopes expire, and the moment from which the book
    is complete (its horizon): an envelope issued before it may have been used already, so it is refused."""

    def __init__(self, directory: Path, *, complete_since: float) -> None:
        self.path = directory / NONCES_FILE
        self.seen: dict[str, float] = {}
        self.horizon = complete_since - CLOCK_SKEW_SECONDS
        if self.path.exists():
            try:
                stored = json.loads(self.path.read_text())
                self.horizon = float(stored["horizon"])
                self.seen = {str(k): float(v) for k, v in stored["seen"].items()}
            except (OSError, ValueError, KeyError, TypeError, AttributeError):
                self.horizon = time.time()
                logger.error("the remote session nonce book was damaged; envelopes issued before now are refused")
                self._write()

    def take(self, nonce: str, *, issued: int, expires: int) -> None:
        now = time.time()
        if issued < self.horizon:
            raise Refused("replayed", "The envelope was issued before this agent could have remembered it.")
        self.seen = {key: until for key, until in self.seen.items() if until > now - CLOCK_SKEW_SECONDS}
        if nonce in self.seen:
            raise Refused("replayed", "This envelope was used already.")
        self.seen[nonce] = float(expires)
        self._write()

    def _write(self) -> None:
        _write_private(self.path, json.dumps({"horizon": self.horizon, "seen": self.seen}).encode())


def _checked(frame: dict[str, Any], *, purpose: str, pinned_key: str | None, device_id: int,
             now: float) -> dict[str, Any]:
    envelope, signature = frame.get("envelope"), frame.get("signature")
    if not isinstance(envelope, dict) or not isinstance(signature, str) or not signature:
        raise Refused("unsigned", "The request carries no signed envelope.")
    if not pinned_key:
        raise Refused("no_pinned_key", "This agent has no pinned signing key; enroll it again.")
    if not _verify_signature(pinned_key, signature, canonical_json(envelope)):
        raise Refused("bad_signature", "The signature does not match the pinned server key.")
    if envelope.get("purpose") != purpose or envelope.get("v") != 1:
        raise Refused("malformed", f"This is not a {purpose.replace('_', ' ')} envelope.")
    if envelope.get("device_id") != device_id:
        raise Refused("wrong_device", f"The envelope is for device {envelope.get('device_id')}, not {device_id}.")
    issued, expires = envelope.get("issued"), envelope.get("expires")
    if not isinstance(issued, int) or not isinstance(expires, int) or isinstance(issued, bool):
        raise Refused("malformed", "The envelope's times are missing.")
    if expires <= now:
        raise Refused("expired", "The envelope expired before it arrived.")
    if issued > now + CLOCK_SKEW_SECONDS or expires - issued > LONGEST_VALIDITY_SECONDS:
        raise Refused("bad_time", "The envelope's times are not believable; check this device's clock.")
    session, nonce = envelope.get("session"), envelope.get("nonce")
    if not isinstance(session, str) or not SESSION_PATTERN.fullmatch(session):
        raise Refused("malformed", "The envelope names no valid session.")
    if not isinstance(nonce, str) or not NONCE_PATTERN.fullmatch(nonce):
        raise Refused("malformed", "The envelope has no valid nonce.")
    return envelope


def _text(envelope: dict[str, Any], name: str, *, limit: int) -> str:
    value = envelope.get(name, "")
    if not isinstance(value, str) or len(value) > limit or "\x00" in value:
        raise Refused("malformed", f"The envelope's {name!r} is not valid text.")
    return value


def _count(envelope: dict[str, Any], name: str) -> int:
    value = envelope.get(name, 0)
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise Refused("malformed", f"The envelope's {name!r} is not a count.")
    return value


def verify_session(frame: dict[str, Any], *, pinned_key: str | None, device_id: int, now: float,
                   nonces: NonceBook) -> SessionGrant:
    envelope = _checked(frame, purpose="remote_session", pinned_key=pinned_key, device_id=device_id, now=now)
    kind, shell, run_as = envelope.get("kind"), _text(envelope, "shell", limit=16), _text(envelope, "run_as", limit=32)
    if kind not in KINDS or shell not in SHELLS:
        raise Refused("unsupported", f"This agent cannot open a {kind!r} session with shell {shell!r}.")
    if run_as and not ACCOUNT_PATTERN.fullmatch(run_as):
        raise Refused("malformed", "The account to run as is not a valid account name.")
    consent = envelope.get("consent")
    if not isinstance(consent, bool):
        raise Refused("malformed", "The envelope does not say whether consent is required.")
    grant = SessionGrant(session=envelope["session"], kind=kind, user=_text(envelope, "user", limit=150),
                         run_as=run_as, shell=shell, consent=consent, banner=_text(envelope, "banner", limit=500),
                         idle_seconds=max(60, _count(envelope, "idle_seconds")),
                         max_file_bytes=_count(envelope, "max_file_bytes"))
    nonces.take(envelope["nonce"], issued=envelope["issued"], expires=envelope["expires"])
    return grant


def verify_request(frame: dict[str, Any], *, pinned_key: str | None, device_id: int, now: float,
                   nonces: NonceBook) -> FileRequest:
    envelope = _checked(frame, purpose="remote_request", pinned_key=pinned_key, device_id=device_id, now=now)
    op, request = envelope.get("op"), envelope.get("request")
    if op not in OPERATIONS:
        raise Refused("unsupported", f"This agent cannot {op!r} files.")
    if not isinstance(request, int) or isinstance(request, bool) or not 0 < request < 2**32:
        raise Refused("malformed", "The envelope has no valid request number.")
    sha256 = _text(envelope, "sha256", limit=64)
    if sha256 and not re.fullmatch(r"[0-9a-f]{64}", sha256):
        raise Refused("malformed", "The envelope's SHA-256 is not a hex digest.")
    found = FileRequest(session=envelope["session"], request=request, op=op,
                        path=_text(envelope, "path", limit=MAX_PATH), to=_text(envelope, "to", limit=MAX_PATH),
                        size=_count(envelope, "size"), sha256=sha256)
    nonces.take(envelope["nonce"], issued=envelope["issued"], expires=envelope["expires"])
    return found
