"""The remote-session frames on the agent's socket and on the browser's (documented in the README).

Agent socket, binary (both ways): kind (1 terminal, 2 file) · the session key as 16 bytes · the stream
(0 for the terminal, a file request's number) as 4 bytes · at most MAX_CHUNK bytes of data. The agent's
JSON frames about sessions (``remote_opened`` … ``remote_ack``) are checked in agent_protocol.

Browser socket, binary: kind · stream (4 bytes) · data; JSON for everything else.
"""

from __future__ import annotations

import struct
import uuid
from dataclasses import dataclass

from realtime.agent_protocol import FrameError

TERMINAL, FILE = 1, 2
AGENT_HEADER = struct.Struct(">B16sI")
BROWSER_HEADER = struct.Struct(">BI")
MAX_CHUNK = 64 * 1024
# What one stream may have on its way before the far end acknowledges it (the agent keeps to the same):
# a slow browser pauses the shell rather than filling the server's buffers.
WINDOW = 256 * 1024


@dataclass(frozen=True)
class DataFrame:
    kind: int
    session: str
    stream: int
    data: bytes


def pack_for_agent(*, kind: int, session: str, stream: int, data: bytes) -> bytes:
    return AGENT_HEADER.pack(kind, uuid.UUID(hex=session).bytes, stream) + data


def unpack_from_agent(raw: bytes) -> DataFrame:
    if len(raw) < AGENT_HEADER.size:
        raise FrameError("invalid_field", "A data frame is shorter than its header.")
    kind, key, stream = AGENT_HEADER.unpack_from(raw)
    data = raw[AGENT_HEADER.size:]
    if kind not in (TERMINAL, FILE) or len(data) > MAX_CHUNK:
        raise FrameError("invalid_field", f"A data frame has kind 1 or 2 and at most {MAX_CHUNK} bytes.")
    return DataFrame(kind=kind, session=uuid.UUID(bytes=key).hex, stream=stream, data=data)


def pack_for_browser(*, kind: int, stream: int, data: bytes) -> bytes:
    return BROWSER_HEADER.pack(kind, stream) + data


def unpack_from_browser(raw: bytes) -> tuple[int, int, bytes]:
    if len(raw) < BROWSER_HEADER.size:
        raise ValueError("A data message is shorter than its header.")
    kind, stream = BROWSER_HEADER.unpack_from(raw)
    data = raw[BROWSER_HEADER.size:]
    if kind not in (TERMINAL, FILE) or len(data) > MAX_CHUNK:
        raise ValueError(f"A data message has kind 1 or 2 and at most {MAX_CHUNK} bytes.")
    return kind, stream, data
