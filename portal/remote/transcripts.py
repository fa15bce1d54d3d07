"""A shell's transcript: what the endpoint printed, what the technician typed and how the terminal was
resized, each with its time since the session opened; kept in zlib-compressed chunks.

A record is ``>IcI`` (milliseconds, direction ``o``/``i``/``r``, length) followed by its bytes. A session
records at most FLEETWATCH_REMOTE_TRANSCRIPT_MAX_MB of output (keystrokes and resizes always): past that the
transcript says it was cut and the session goes on.
"""

from __future__ import annotations

import re
import struct
import time
import zlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

OUTPUT, INPUT, RESIZE = b"o", b"i", b"r"
RECORD = struct.Struct(">IcI")
CHUNK_BYTES = 256 * 1024
CHUNK_SECONDS = 2.0
# CSI sequences (colours, cursor moves), OSC sequences (window titles), and two-byte escapes.
ANSI = re.compile(r"\x1b\[[0-?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)|\x1b[@-Z\\-_]")
CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")


@dataclass(frozen=True)
class Chunk:
    seq: int
    data: bytes  # compressed
    raw_bytes: int


@dataclass(frozen=True)
class Entry:
    at_ms: int
    direction: bytes
    data: bytes


class Recorder:
    """What one session's consumer records, handed out a chunk at a time."""

    def __init__(self, *, output_limit: int) -> None:
        self.started = time.monotonic()
        self.output_limit = output_limit
        self.output_recorded = 0
        self.truncated = False
        self.seq = 0
        self._buffer = bytearray()
        self._since = time.monotonic()

    def add(self, direction: bytes, data: bytes) -> None:
        if direction == OUTPUT:
            room = self.output_limit - self.output_recorded
            if room <= 0:
                self.truncated = True
                return
            if len(data) > room:
                data, self.truncated = data[:room], True
            self.output_recorded += len(data)
        at = int((time.monotonic() - self.started) * 1000)
        self._buffer += RECORD.pack(min(at, 2**32 - 1), direction, len(data)) + data

    def take(self, *, force: bool = False) -> Chunk | None:
        """A chunk when enough waits (or some time passed, or ``force``), else None."""
        if not self._buffer:
            return None
        if not force and len(self._buffer) < CHUNK_BYTES and time.monotonic() - self._since < CHUNK_SECONDS:
            return None
        raw, self._buffer = bytes(self._buffer), bytearray()
        self._since = time.monotonic()
        self.seq += 1
        return Chunk(seq=self.seq, data=zlib.compress(raw, 6), raw_bytes=len(raw))


def entries(compressed_chunks: Iterable[bytes]) -> Iterator[Entry]:
    for compressed in compressed_chunks:
        raw = zlib.decompress(bytes(compressed))
        offset = 0
        while offset + RECORD.size <= len(raw):
            at_ms, direction, length = RECORD.unpack_from(raw, offset)
            offset += RECORD.size
            yield Entry(at_ms=at_ms, direction=direction, data=raw[offset:offset + length])
            offset += length


def readable(data: bytes) -> str:
    """Terminal output as text: escape sequences and control characters removed, line ends kept."""
    text = ANSI.sub("", data.decode("utf-8", "replace")).replace("\r\n", "\n").replace("\r", "\n")
    return CONTROL.sub("", text)


def keys_text(data: bytes) -> str:
    """Keystrokes as a person reads them: Enter as a line end, other control keys named."""
    names = {"\r": "⏎\n", "\x03": "^C", "\x04": "^D", "\x1a": "^Z", "\x7f": "⌫", "\t": "⇥", "\x1b": "Esc "}
    text = data.decode("utf-8", "replace")
    return "".join(names.get(char, char if char.isprintable() else f"^{chr(ord(char) + 64)}"
                             if ord(char) < 32 else "") for char in text)


@dataclass(frozen=True)
class Transcript:
    output: str
    keystrokes: list[tuple[int, str]]  # (milliseconds, what was typed)
    resizes: list[tuple[int, str]]
    raw_output: bytes

    def matches(self, words: list[str]) -> bool:
        haystack = (self.output + "\n" + "".join(keys for _, keys in self.keystrokes)).lower()
        return all(word in haystack for word in words)

    def snippets(self, words: list[str], *, around: int = 60, most: int = 3) -> list[str]:
        found, lower = [], self.output.lower()
        for word in words:
            start = lower.find(word)
            while start != -1 and len(found) < most:
                found.append(self.output[max(0, start - around):start + len(word) + around].replace("\n", " ⏎ "))
                start = lower.find(word, start + len(word) + around)
        return found


def transcript_of(compressed_chunks: Iterable[bytes]) -> Transcript:
    output, keystrokes, resizes = bytearray(), [], []
    for entry in entries(compressed_chunks):
        if entry.direction == OUTPUT:
            output += entry.data
        elif entry.direction == INPUT:
            keystrokes.append((entry.at_ms, keys_text(entry.data)))
        elif entry.direction == RESIZE:
            resizes.append((entry.at_ms, entry.data.decode("ascii", "replace")))
    return Transcript(output=readable(bytes(output)), keystrokes=_joined(keystrokes), resizes=resizes,
                      raw_output=bytes(output))


def _joined(keystrokes: list[tuple[int, str]]) -> list[tuple[int, str]]:
    """Keystrokes typed less than a second apart read as one line of typing (until Enter)."""
    joined: list[list] = []  # [first ms, last ms, text]
    for at_ms, text in keystrokes:
        if joined and at_ms - joined[-1][1] < 1000 and not joined[-1][2].endswith("\n"):
            joined[-1][1], joined[-1][2] = at_ms, joined[-1][2] + text
        else:
            joined.append([at_ms, at_ms, text])
    return [(first, text) for first, _, text in joined]
