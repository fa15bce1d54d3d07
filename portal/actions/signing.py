"""Ed25519 signatures on action envelopes. The private key lives in the data directory (0600), never
in the database; agents pin the public key at enrollment and refuse anything it did not sign.

Rotation (``manage.py rotate_signing_key``) keeps the old key as ``<key>.previous``; the server then
hands connected agents the new public key endorsed by the old one, so pinned agents move over without
re-enrolling.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import secrets
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from django.conf import settings

from portal.keyfiles import read_or_create_key_file

ENDORSEMENT_PREFIX = b"fleetwatch-signing-key:"
ENVELOPE_VERSION = 1


def canonical_json(value: Any) -> bytes:
    """The exact bytes both sides sign and hash: sorted keys, no spaces, UTF-8."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def payload_digest(payload: dict[str, Any]) -> str:
    return hashlib.sha256(canonical_json(payload)).hexdigest()


def _new_private_pem() -> str:
    return Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()).decode()


def _load(pem: str) -> Ed25519PrivateKey:
    key = serialization.load_pem_private_key(pem.encode(), password=None)
    if not isinstance(key, Ed25519PrivateKey):
        raise ValueError("The action signing key is not an Ed25519 key.")
    return key


def _key_path() -> Path:
    return Path(settings.FLEETWATCH_ACTION_SIGNING_KEY)


def _previous_key_path() -> Path:
    return _key_path().with_name(_key_path().name + ".previous")


@cache
def _signing_key(path: str) -> Ed25519PrivateKey:
    return _load(read_or_create_key_file(path=Path(path), generate=_new_private_pem))


def signing_key() -> Ed25519PrivateKey:
    return _signing_key(str(_key_path()))


def public_key_text(key: Ed25519PrivateKey | None = None) -> str:
    raw = (key or signing_key()).public_key().public_bytes(serialization.Encoding.Raw,
                                                          serialization.PublicFormat.Raw)
    return base64.b64encode(raw).decode()


def sign(data: bytes) -> str:
    return base64.b64encode(signing_key().sign(data)).decode()


@dataclass(frozen=True)
class SignedEnvelope:
    envelope: dict[str, Any]
    signature: str


def sign_envelope(*, action_id: int, device_id: int, action_type: str, payload: dict[str, Any],
                  issued: int, expires: int, queued: int | None = None) -> SignedEnvelope:
    """``queued``: when the action was requested; agents refuse actions queued before their ledger begins."""
    envelope = {"v": ENVELOPE_VERSION, "action_id": action_id, "device_id": device_id, "type": action_type,
                "payload_digest": payload_digest(payload), "issued": issued, "expires": expires,
                "queued": min(issued, queued if queued is not None else issued), "nonce": secrets.token_hex(16)}
    return SignedEnvelope(envelope=envelope, signature=sign(canonical_json(envelope)))


def key_endorsement() -> str | None:
    """After a rotation: the current public key signed by the previous one (None when never rotated)."""
    previous = _previous_key_path()
    if not previous.exists():
        return None
    old_key = _load(previous.read_text(encoding="utf-8"))
    return base64.b64encode(old_key.sign(ENDORSEMENT_PREFIX + public_key_text().encode())).decode()


def rotate() -> tuple[str, str]:
    """Make a new key pair; the current one becomes the previous (endorsing) key. Returns (old, new)."""
    path = _key_path()
    old_public = public_key_text()
    os.replace(path, _previous_key_path())
    _signing_key.cache_clear()
    return old_public, public_key_text()
