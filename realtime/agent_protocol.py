"""The agent protocol: what each frame from an agent must look like (documented in the README).

Every frame is a JSON object with a ``type``. Frames are checked here before anything acts on them;
only the types in ``AGENT_FRAMES`` are dispatched.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

MAX_FRAME_BYTES = 1024 * 1024
HASH_PATTERN = re.compile(r"^[0-9a-f]{64}$")


class FrameError(Exception):
    """A frame that breaks the protocol; ``code`` and the message go back to the agent."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


@dataclass(frozen=True)
class Hello:
    agent_version: str
    capabilities: tuple[str, ...]


@dataclass(frozen=True)
class HeartbeatFrame:
    seq: int
    metrics: dict[str, Any]


@dataclass(frozen=True)
class InventoryFrame:
    content_hash: str
    data: dict[str, Any]


def _require(frame: dict[str, Any], name: str, kind: type | tuple[type, ...]) -> Any:
    value = frame.get(name)
    if not isinstance(value, kind) or (isinstance(value, bool) and kind is not bool):
        expected = kind.__name__ if isinstance(kind, type) else " or ".join(k.__name__ for k in kind)
        raise FrameError("invalid_field", f"'{name}' must be {expected}.")
    return value


def _hello(frame: dict[str, Any]) -> Hello:
    version = _require(frame, "agent_version", str)[:32]
    capabilities = frame.get("capabilities", [])
    if not isinstance(capabilities, list) or not all(isinstance(c, str) for c in capabilities):
        raise FrameError("invalid_field", "'capabilities' must be a list of strings.")
    return Hello(agent_version=version, capabilities=tuple(c[:64] for c in capabilities[:50]))


def _heartbeat(frame: dict[str, Any]) -> HeartbeatFrame:
    seq = _require(frame, "seq", int)
    metrics = frame.get("metrics", {})
    if not isinstance(metrics, dict):
        raise FrameError("invalid_field", "'metrics' must be an object.")
    return HeartbeatFrame(seq=seq, metrics=metrics)


def _inventory(frame: dict[str, Any]) -> InventoryFrame:
    content_hash = _require(frame, "hash", str)
    if not HASH_PATTERN.match(content_hash):
        raise FrameError("invalid_field", "'hash' must be a SHA-256 hex digest.")
    return InventoryFrame(content_hash=content_hash, data=_require(frame, "data", dict))


AGENT_FRAMES = {"hello": _hello, "heartbeat": _heartbeat, "inventory": _inventory}


def parse_frame(text: str | None, raw: bytes | None) -> tuple[str, Any]:
    """Check one websocket frame; returns its type and parsed content, or raises FrameError."""
    if raw is not None:
        raise FrameError("binary_frame", "Frames are JSON text, not binary.")
    if text is None:
        raise FrameError("empty_frame", "Empty frame.")
    if len(text.encode()) > MAX_FRAME_BYTES:
        raise FrameError("frame_too_large", f"Frames are limited to {MAX_FRAME_BYTES} bytes.")
    try:
        frame = json.loads(text)
    except ValueError as error:
        raise FrameError("malformed_json", "The frame is not valid JSON.") from error
    if not isinstance(frame, dict):
        raise FrameError("not_an_object", "A frame must be a JSON object.")
    frame_type = frame.get("type")
    parser = AGENT_FRAMES.get(frame_type) if isinstance(frame_type, str) else None
    if parser is None:
        raise FrameError("unknown_type", f"Unknown frame type {str(frame_type)[:40]!r}.")
    return frame_type, parser(frame)
