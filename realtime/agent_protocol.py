"""The agent protocol: what each frame from an agent must look like (documented in the README).

Every frame is a JSON object with a ``type``. Frames are checked here before anything acts on them;
only the types in ``AGENT_FRAMES`` are dispatched.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime
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


# How many items of each kind one inventory may carry: well above a real endpoint (~1,000 packages and
# ~130 pending updates on a busy Linux server; a few hundred of each on Windows), far below a flood.
INVENTORY_LIMITS = {"software": 5_000, "services": 2_000, "pending_updates": 2_000, "interfaces": 256,
                    "disks": 256, "users": 256}


def _inventory(frame: dict[str, Any]) -> InventoryFrame:
    content_hash = _require(frame, "hash", str)
    if not HASH_PATTERN.fullmatch(content_hash):
        raise FrameError("invalid_field", "'hash' must be a SHA-256 hex digest.")
    data = _require(frame, "data", dict)
    for kind, limit in INVENTORY_LIMITS.items():
        items = data.get(kind)
        if isinstance(items, list) and len(items) > limit:
            raise FrameError("invalid_field", f"'data.{kind}' has {len(items):,} items; at most {limit:,} are "
                                              "accepted (the stored inventory is kept).")
    return InventoryFrame(content_hash=content_hash, data=data)


ACTION_RESULT_STATUSES = {"succeeded", "failed", "timed_out", "cancelled"}
MAX_OUTPUT_FRAME_CHARS = 256 * 1024


@dataclass(frozen=True)
class ActionStartedFrame:
    action_id: int
    started_at: datetime | None


@dataclass(frozen=True)
class ActionOutputFrame:
    action_id: int
    stdout: str
    stderr: str


@dataclass(frozen=True)
class ActionResultFrame:
    action_id: int
    status: str
    exit_code: int | None
    stdout: str
    stderr: str
    stdout_truncated: bool
    stderr_truncated: bool
    started_at: datetime | None
    finished_at: datetime | None
    result: dict[str, Any]
    error: str


@dataclass(frozen=True)
class ActionRefusedFrame:
    action_id: int
    reason: str
    message: str


def _timestamp(frame: dict[str, Any], name: str) -> datetime | None:
    value = frame.get(name)
    if value is None:
        return None
    if not isinstance(value, int | float) or isinstance(value, bool) or not 0 < value < 32503680000:
        raise FrameError("invalid_field", f"'{name}' must be a Unix time in seconds.")
    return datetime.fromtimestamp(value, tz=UTC)


def _text(frame: dict[str, Any], name: str) -> str:
    value = frame.get(name, "")
    if not isinstance(value, str):
        raise FrameError("invalid_field", f"'{name}' must be a string.")
    return value[:MAX_OUTPUT_FRAME_CHARS]


def _action_id(frame: dict[str, Any]) -> int:
    value = _require(frame, "action_id", int)
    if value < 1:
        raise FrameError("invalid_field", "'action_id' must be a positive integer.")
    return value


def _action_started(frame: dict[str, Any]) -> ActionStartedFrame:
    return ActionStartedFrame(action_id=_action_id(frame), started_at=_timestamp(frame, "started_at"))


def _action_output(frame: dict[str, Any]) -> ActionOutputFrame:
    return ActionOutputFrame(action_id=_action_id(frame), stdout=_text(frame, "stdout"), stderr=_text(frame, "stderr"))


def _action_result(frame: dict[str, Any]) -> ActionResultFrame:
    status = _require(frame, "status", str)
    if status not in ACTION_RESULT_STATUSES:
        raise FrameError("invalid_field", f"'status' must be one of {', '.join(sorted(ACTION_RESULT_STATUSES))}.")
    exit_code = frame.get("exit_code")
    if exit_code is not None and (not isinstance(exit_code, int) or isinstance(exit_code, bool)):
        raise FrameError("invalid_field", "'exit_code' must be an integer or null.")
    result = frame.get("result") or {}
    if not isinstance(result, dict):
        raise FrameError("invalid_field", "'result' must be an object.")
    return ActionResultFrame(
        action_id=_action_id(frame), status=status, exit_code=exit_code, stdout=_text(frame, "stdout"),
        stderr=_text(frame, "stderr"), stdout_truncated=frame.get("stdout_truncated") is True,
        stderr_truncated=frame.get("stderr_truncated") is True, started_at=_timestamp(frame, "started_at"),
        finished_at=_timestamp(frame, "finished_at"), result=result, error=_text(frame, "error")[:2000])


def _action_refused(frame: dict[str, Any]) -> ActionRefusedFrame:
    return ActionRefusedFrame(action_id=_action_id(frame), reason=_require(frame, "reason", str)[:64],
                              message=_text(frame, "message")[:500])


@dataclass(frozen=True)
class UpdateScanFrame:
    scanned_at: datetime
    error: str
    reboot_required: bool | None


def _update_scan(frame: dict[str, Any]) -> UpdateScanFrame:
    scanned_at = _timestamp(frame, "scanned_at")
    if scanned_at is None:
        raise FrameError("invalid_field", "'scanned_at' must be a Unix time in seconds.")
    reboot = frame.get("reboot_required")
    if reboot is not None and not isinstance(reboot, bool):
        raise FrameError("invalid_field", "'reboot_required' must be true, false or null.")
    return UpdateScanFrame(scanned_at=scanned_at, error=_text(frame, "error")[:500], reboot_required=reboot)


SESSION_PATTERN = re.compile(r"[0-9a-f]{32}")
SHA256_PATTERN = re.compile(r"[0-9a-f]{64}")
REMOTE_FRAMES = {"remote_opened", "remote_refused", "remote_closed", "remote_reply", "remote_done", "remote_ack"}


def _count(frame: dict[str, Any], name: str, *, default: int | None = None) -> int:
    value = frame.get(name, default)
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value < 2**63:
        raise FrameError("invalid_field", f"'{name}' must be a count.")
    return value


def _short(value: Any, limit: int) -> str:
    return value[:limit] if isinstance(value, str) else ""


def _remote(frame: dict[str, Any]) -> dict[str, Any]:
    """An agent's session frame, checked and trimmed to what the server relays."""
    session = frame.get("session")
    if not isinstance(session, str) or not SESSION_PATTERN.fullmatch(session):
        raise FrameError("invalid_field", "'session' must be a session key (32 hex digits).")
    kind = frame["type"]
    checked: dict[str, Any] = {"type": kind, "session": session}
    if kind == "remote_opened":
        checked |= {"shell": _short(frame.get("shell"), 200)}
    elif kind in ("remote_refused", "remote_closed"):
        exit_code = frame.get("exit_code")
        checked |= {"reason": _short(frame.get("reason"), 200), "message": _short(frame.get("message"), 500),
                    "exit_code": exit_code if isinstance(exit_code, int) and not isinstance(exit_code, bool)
                    else None}
    elif kind == "remote_reply":
        result = frame.get("result")
        checked |= {"request": _count(frame, "request"), "ok": frame.get("ok") is True,
                    "result": result if isinstance(result, dict) else {}, "error": _short(frame.get("error"), 500)}
    elif kind == "remote_done":
        sha256 = frame.get("sha256")
        checked |= {"request": _count(frame, "request"), "ok": frame.get("ok") is True,
                    "size": _count(frame, "size", default=0),
                    "sha256": sha256 if isinstance(sha256, str) and SHA256_PATTERN.fullmatch(sha256) else "",
                    "error": _short(frame.get("error"), 500)}
    elif kind == "remote_ack":
        checked |= {"stream": _count(frame, "stream"), "bytes": _count(frame, "bytes")}
    return checked


AGENT_FRAMES = {"hello": _hello, "heartbeat": _heartbeat, "inventory": _inventory, "update_scan": _update_scan,
                "action_started": _action_started, "action_output": _action_output,
                "action_result": _action_result, "action_refused": _action_refused,
                **dict.fromkeys(REMOTE_FRAMES, _remote)}


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
