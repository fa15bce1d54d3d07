"""Checking a signed action envelope before anything runs.

The server signs the canonical JSON of the envelope (sorted keys, no spaces, UTF-8) with Ed25519;
the envelope carries the SHA-256 of the payload's canonical JSON. The agent refuses unsigned,
tampered, expired and other-device actions; replays are caught by the ledger (actions.py).
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from typing import Any

from fleetwatch_agent import crypto

ENDORSEMENT_PREFIX = b"fleetwatch-signing-key:"
SUPPORTED_TYPES = {"run_script", "reboot", "install_patches", "install_software", "scan_updates"}
CLOCK_SKEW_SECONDS = 300
NONCE_PATTERN = re.compile(r"[0-9a-f]{32}")


class Refused(Exception):
    """The action must not run; ``reason`` is reported to the server."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


@dataclass(frozen=True)
class VerifiedAction:
    action_id: int
    action_type: str
    payload: dict[str, Any]
    expires: int
    queued: int  # when the server queued it (older servers: when it was issued)
    nonce: str


def canonical_json(value: Any) -> bytes:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def _verify_signature(key_text: str, signature: str, data: bytes) -> bool:
    """Checked by a child process (see crypto); one that cannot run is a refusal, never a pass."""
    try:
        return crypto.verify_signature(public_key=key_text, signature=signature, data=data)
    except crypto.CryptoUnavailable as error:
        raise Refused("unverifiable", f"This agent could not check the signature: {error}") from error


def action_id_of(frame: dict[str, Any]) -> int | None:
    envelope = frame.get("envelope")
    value = envelope.get("action_id") if isinstance(envelope, dict) else None
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def verify(frame: dict[str, Any], *, pinned_key: str | None, device_id: int, now: float) -> VerifiedAction:
    envelope, signature, payload = frame.get("envelope"), frame.get("signature"), frame.get("payload")
    if not isinstance(envelope, dict) or not isinstance(signature, str) or not signature:
        raise Refused("unsigned", "The action carries no signature.")
    if not pinned_key:
        raise Refused("no_pinned_key", "This agent has no pinned signing key; enroll it again.")
    if not _verify_signature(pinned_key, signature, canonical_json(envelope)):
        raise Refused("bad_signature", "The signature does not match the pinned server key.")
    if envelope.get("device_id") != device_id:
        raise Refused("wrong_device", f"The action is for device {envelope.get('device_id')}, not {device_id}.")
    if not isinstance(payload, dict) or hashlib.sha256(canonical_json(payload)).hexdigest() != envelope.get(
            "payload_digest"):
        raise Refused("tampered", "The payload does not match the signed digest.")
    expires, issued = envelope.get("expires"), envelope.get("issued")
    if not isinstance(expires, int) or expires <= now:
        raise Refused("expired", "The action expired before it arrived.")
    if not isinstance(issued, int) or issued > now + CLOCK_SKEW_SECONDS:
        raise Refused("bad_time", "The action was issued in the future; check this device's clock.")
    if envelope.get("type") not in SUPPORTED_TYPES:
        raise Refused("unsupported", f"This agent cannot run {envelope.get('type')!r} actions.")
    action_id = action_id_of(frame)
    if action_id is None:
        raise Refused("malformed", "The envelope has no action id.")
    nonce = envelope.get("nonce")
    if not isinstance(nonce, str) or not NONCE_PATTERN.fullmatch(nonce):
        raise Refused("malformed", "The envelope has no valid nonce.")
    queued = envelope.get("queued", issued)
    if not isinstance(queued, int) or isinstance(queued, bool) or queued > issued:
        raise Refused("malformed", "The envelope's queued time is missing or after its issue time.")
    return VerifiedAction(action_id=action_id, action_type=envelope["type"], payload=payload, expires=expires,
                          queued=queued, nonce=nonce)


def endorsed(*, pinned_key: str, new_key: str, endorsement: str | None) -> bool:
    """True when the pinned key signed ``new_key`` (a server key rotation); False when that cannot be checked."""
    try:
        return bool(endorsement) and _verify_signature(pinned_key, endorsement,
                                                       ENDORSEMENT_PREFIX + new_key.encode())
    except Refused:
        return False
