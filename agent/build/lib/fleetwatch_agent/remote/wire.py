"""The binary frames of a remote session's data, shared by both directions on the agent's socket.

    byte 0       kind: 1 terminal bytes, 2 file bytes
    bytes 1–16   the session's key (a UUID, as 16 bytes)
    bytes 17–20  the stream: 0 for the terminal, a file transfer's request number otherwise (big-endian)
    the rest     the data, at most MAX_CHUNK bytes

Everything else (opening, resizing, acknowledging, closing, file requests and their answers) is JSON text.
"""

from __future__ import annotations

import struct
import uuid
from dataclasses import dataclass

TERMINAL = 1
FILE = 2
HEADER = struct.Struct(">B16sI")
MAX_CHUNK = 64 * 1024
# Bytes a stream may have on the way before the far end acknowledges them: a slow browser stops the shell's
# output here instead of filling buffers on the server, and the agent's heartbeats never wait behind a stream.
WINDOW = 256 * 1024


class WireError(ValueError):
    pass


@dataclass(frozen=True)
class DataFrame:
    kind: int
    session: str  # the key as 32 hex digits
    stream: int
    data: bytes


def pack(*, kind: int, session: str, stream: int, data: bytes) -> bytes:
    return HEADER.pack(kind, uuid.UUID(hex=session).bytes, stream) + data


def unpack(frame: bytes) -> DataFrame:
    if len(frame) < HEADER.size:
        raise WireError("A data frame is shorter than its header.")
    kind, key, stream = HEADER.unpack_from(frame)
    if kind not in (TERMINAL, FILE):
        raise WireError(f"Unknown data frame kind {kind}.")
    data = frame[HEADER.size:]
    if len(data) > MAX_CHUNK:
        raise WireError(f"A data frame carries at most {MAX_CHUNK} bytes.")
    return DataFrame(kind=kind, session=uuid.UUID(bytes=key).hex, stream=stream, data=data)
