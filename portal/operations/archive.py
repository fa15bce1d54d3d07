"""An encrypted, streamed archive: what ``manage.py backup`` writes and ``restore`` reads.

The passphrase is stretched with scrypt; the content is sealed with AES-256-GCM in chunks of 1 MiB, each
chunk's nonce holding its number and whether it is the last (the STREAM construction), so a chunk cannot be
changed, dropped, reordered or cut off the end without the restore refusing the file. A backup of any size
is written and read with one chunk in memory.
"""

from __future__ import annotations

import io
import os
import struct
from typing import BinaryIO

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

MAGIC = b"FLEETWATCH-BACKUP-1\n"
CHUNK = 1024 * 1024
SCRYPT_LOG2_N, SCRYPT_R, SCRYPT_P = 17, 8, 1  # 128 MiB and about half a second per guess on one core
_HEADER = struct.Struct(">16sBBB7s")  # salt, log2(n), r, p, nonce prefix
_LENGTH = struct.Struct(">I")


class ArchiveError(Exception):
    """The file is not a backup, or the passphrase is wrong, or the file was changed or cut short."""


def _key(passphrase: str, salt: bytes, log2_n: int, r: int, p: int) -> bytes:
    if not 14 <= log2_n <= 20 or not 1 <= r <= 16 or not 1 <= p <= 4:
        raise ArchiveError("The backup's key parameters are out of range; it was not written by Fleetwatch.")
    return Scrypt(salt=salt, length=32, n=2 ** log2_n, r=r, p=p).derive(passphrase.encode())


def _nonce(prefix: bytes, number: int, last: bool) -> bytes:
    return prefix + struct.pack(">IB", number, 1 if last else 0)


class EncryptingWriter(io.RawIOBase):
    """A write-only file object: bytes written to it reach ``target`` sealed, a chunk at a time.
    ``close()`` seals the last chunk (an empty one if the content ended on a chunk boundary)."""

    def __init__(self, target: BinaryIO, *, passphrase: str) -> None:
        super().__init__()
        salt, prefix = os.urandom(16), os.urandom(7)
        self.header = MAGIC + _HEADER.pack(salt, SCRYPT_LOG2_N, SCRYPT_R, SCRYPT_P, prefix)
        self.cipher = AESGCM(_key(passphrase, salt, SCRYPT_LOG2_N, SCRYPT_R, SCRYPT_P))
        self.prefix, self.target, self.number, self.pending = prefix, target, 0, bytearray()
        target.write(self.header)

    def writable(self) -> bool:
        return True

    def write(self, data: bytes) -> int:  # type: ignore[override]
        self.pending += data
        while len(self.pending) > CHUNK:
            self._seal(bytes(self.pending[:CHUNK]), last=False)
            del self.pending[:CHUNK]
        return len(data)

    def _seal(self, plain: bytes, *, last: bool) -> None:
        sealed = self.cipher.encrypt(_nonce(self.prefix, self.number, last), plain, self.header)
        self.target.write(_LENGTH.pack(len(sealed)) + sealed)
        self.number += 1

    def close(self) -> None:
        if not self.closed:
            self._seal(bytes(self.pending), last=True)
            self.pending.clear()
            self.target.flush()
        super().close()


class DecryptingReader(io.RawIOBase):
    """A read-only file object giving back what ``EncryptingWriter`` sealed, refusing any change."""

    def __init__(self, source: BinaryIO, *, passphrase: str) -> None:
        super().__init__()
        magic = source.read(len(MAGIC))
        if magic != MAGIC:
            raise ArchiveError("This file is not a Fleetwatch backup.")
        packed = source.read(_HEADER.size)
        if len(packed) != _HEADER.size:
            raise ArchiveError("The backup is cut short.")
        salt, log2_n, r, p, prefix = _HEADER.unpack(packed)
        self.header = magic + packed
        self.cipher = AESGCM(_key(passphrase, salt, log2_n, r, p))
        self.prefix, self.source, self.number = prefix, source, 0
        self.buffer, self.finished = bytearray(), False
        self._next_chunk()  # a wrong passphrase is told at once, not after the first read

    def readable(self) -> bool:
        return True

    def _next_chunk(self) -> None:
        length = self.source.read(_LENGTH.size)
        if len(length) != _LENGTH.size:
            raise ArchiveError("The backup is cut short.")
        (size,) = _LENGTH.unpack(length)
        if size > CHUNK + 16:
            raise ArchiveError("The backup is damaged.")
        sealed = self.source.read(size)
        if len(sealed) < size:
            raise ArchiveError("The backup is cut short.")
        for last in (False, True):
            try:
                plain = self.cipher.decrypt(_nonce(self.prefix, self.number, last), sealed, self.header)
            except InvalidTag:
                continue
            self.number += 1
            self.buffer += plain
            if last:
                if self.source.read(1):
                    raise ArchiveError("The backup has bytes after its end; it was changed.")
                self.finished = True
            return
        if self.number == 0:
            raise ArchiveError("Wrong passphrase, or this backup was changed.")
        raise ArchiveError("The backup was changed or damaged.")

    def readinto(self, target: bytearray | memoryview) -> int:  # type: ignore[override]
        while not self.buffer and not self.finished:
            self._next_chunk()
        count = min(len(target), len(self.buffer))
        target[:count] = self.buffer[:count]
        del self.buffer[:count]
        return count
