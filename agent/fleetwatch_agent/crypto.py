"""Signature checks and the token file's sealing, done by a short-lived child process in the running agent.

``cryptography`` (its own OpenSSL and Rust bindings) takes ~8.5 MB of resident memory once imported, a
quarter of the agent's. The running agent needs it only at its start (to open its token) and when an
action, a key rotation or an update arrives (to check a signature). Each of those asks a child
``python -m fleetwatch_agent.crypto`` (about a tenth of a second), so the process that stays resident never
loads it. A process that has loaded it already (a one-shot command such as ``enroll``, the server's tests)
does the work in-process: there is nothing left to save.

The child reads one JSON request on stdin and writes one JSON answer on stdout; secrets travel only through
those pipes, never through the command line or the environment.
"""

from __future__ import annotations

import base64
import binascii
import json
import subprocess
import sys
from typing import Any

CHILD_TIMEOUT_SECONDS = 60  # a busy machine may start Python slowly; a signature check is not urgent
# Ask for these from the child even when cryptography is loaded here (tests of the child's own path).
always_in_child = False


class CryptoUnavailable(Exception):
    """The child process could not be run or gave no answer (it is logged; the caller refuses what it checks)."""


def verify_signature(*, public_key: str, signature: str, data: bytes) -> bool:
    """True when ``signature`` (base64) is ``public_key``'s (base64 Ed25519) over ``data``."""
    answer = _ask({"op": "verify", "public_key": public_key, "signature": signature,
                   "data": base64.b64encode(data).decode()})
    return answer.get("valid") is True


def open_token(*, key: bytes, nonce: bytes, sealed: bytes, associated_data: bytes) -> str | None:
    """The token sealed with AES-256-GCM, or None when it fails its integrity check."""
    answer = _ask({"op": "open", "key": _b64(key), "nonce": _b64(nonce), "sealed": _b64(sealed),
                   "associated_data": _b64(associated_data)})
    token = answer.get("token")
    return token if isinstance(token, str) else None


def seal_token(*, key: bytes, nonce: bytes, token: str, associated_data: bytes) -> bytes:
    answer = _ask({"op": "seal", "key": _b64(key), "nonce": _b64(nonce), "token": token,
                   "associated_data": _b64(associated_data)})
    return base64.b64decode(answer["sealed"])


def _b64(value: bytes) -> str:
    return base64.b64encode(value).decode()


def _ask(request: dict[str, Any]) -> dict[str, Any]:
    if "cryptography" in sys.modules and not always_in_child:
        return answer(request)
    try:
        finished = subprocess.run(
            [sys.executable, "-m", "fleetwatch_agent.crypto"], input=json.dumps(request).encode(),
            capture_output=True, timeout=CHILD_TIMEOUT_SECONDS, check=False)
    except (OSError, subprocess.TimeoutExpired) as error:
        raise CryptoUnavailable(f"the signature checker could not run: {error}") from error
    try:
        reply = json.loads(finished.stdout)
    except ValueError:
        reply = None
    if finished.returncode != 0 or not isinstance(reply, dict):
        detail = finished.stderr.decode(errors="replace").strip().splitlines()[-1:] or ["no output"]
        raise CryptoUnavailable(f"the signature checker failed (exit {finished.returncode}): {detail[0]}")
    return reply


def answer(request: dict[str, Any]) -> dict[str, Any]:
    """Do what ``request`` asks, with cryptography (the child's side, or in-process when it is loaded)."""
    from cryptography.exceptions import InvalidSignature, InvalidTag
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    operation = request.get("op")
    try:
        if operation == "verify":
            try:
                Ed25519PublicKey.from_public_bytes(base64.b64decode(request["public_key"], validate=True)).verify(
                    base64.b64decode(request["signature"], validate=True), base64.b64decode(request["data"]))
            except (InvalidSignature, ValueError, binascii.Error, TypeError):
                return {"valid": False}
            return {"valid": True}
        key, nonce, associated_data = (base64.b64decode(request[name])
                                       for name in ("key", "nonce", "associated_data"))
        if operation == "open":
            try:
                plain = AESGCM(key).decrypt(nonce, base64.b64decode(request["sealed"]), associated_data)
            except InvalidTag:
                return {"token": None}
            return {"token": plain.decode()}
        if operation == "seal":
            return {"sealed": _b64(AESGCM(key).encrypt(nonce, request["token"].encode(), associated_data))}
    except (KeyError, ValueError, binascii.Error, TypeError) as error:
        raise ValueError(f"malformed request: {type(error).__name__}") from error
    raise ValueError(f"unknown operation {operation!r}")


def main() -> int:
    try:
        request = json.loads(sys.stdin.buffer.read())
        reply = answer(request if isinstance(request, dict) else {})
    except ValueError as error:
        print(error, file=sys.stderr)
        return 2
    sys.stdout.write(json.dumps(reply))
    return 0


if __name__ == "__main__":
    sys.exit(main())
