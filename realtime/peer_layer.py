"""Embedded mode's channel layer: Channels' in-memory layer, plus direct sends between the server processes.

Groups stay per process (what every process must hear goes through the durable event table, see
``portal.events``). A message sent to one *specific* channel, though, must reach it in whichever daphne
process holds it: a technician's terminal and the agent it talks to are often on different processes, and
a terminal's stream is far too busy for the event table. Each process that creates channels listens on a
Unix socket in a private directory of the data directory, and its channel names say which socket that is
(``specific.<peer>!<random>``); a send to another process's channel is written to its socket, the way
channels-redis carries it through Redis when Redis is configured.

Messages that cannot be delivered (the process has gone, its queue for the channel is full) are dropped,
as channels-redis drops expired ones; senders that need delivery acknowledge at their own level.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import hashlib
import logging
import os
import re
import secrets
import stat
import struct
import tempfile
from pathlib import Path
from typing import Any

import msgpack
from channels.exceptions import ChannelFull

from realtime.layers import ProcessLocalChannelLayer

logger = logging.getLogger(__name__)
PEER_PATTERN = re.compile(r"specific\.([0-9a-f]{4,24})!")
LENGTH = struct.Struct(">I")
MAX_MESSAGE_BYTES = 8 * 1024 * 1024
SOCKET_PATH_LIMIT = 100  # sun_path is 104 (macOS) or 108 (Linux) bytes with its terminating NUL


def _private_directory(path: Path) -> Path:
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    info = path.lstat()
    if not stat.S_ISDIR(info.st_mode) or info.st_uid != os.getuid() or stat.S_IMODE(info.st_mode) & 0o077:
        raise PermissionError(f"{path} must be a directory of this user's only (mode 0700).")
    return path


def peers_directory(configured: str) -> Path:
    """Where the processes' sockets live: the configured directory (inside the data directory), or — when
    its path is too long for a socket address — a private directory named after it in the temp directory."""
    path = Path(configured)
    if len(str(path / "0123456789abcdef.sock")) <= SOCKET_PATH_LIMIT:
        return _private_directory(path)
    digest = hashlib.sha256(str(path).encode()).hexdigest()[:16]
    return _private_directory(Path(tempfile.gettempdir()) / f"fleetwatch-{os.getuid()}-{digest}")


class PeerChannelLayer(ProcessLocalChannelLayer):
    def __init__(self, *args: Any, peers_dir: str = "", **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.peers_dir = peers_dir or str(Path(tempfile.gettempdir()) / f"fleetwatch-peers-{os.getuid()}")
        self.peer = f"{os.getpid():x}{secrets.token_hex(3)}"
        self._listening: tuple[asyncio.AbstractEventLoop, asyncio.AbstractServer] | None = None
        self._links: dict[str, tuple[asyncio.AbstractEventLoop, asyncio.StreamWriter]] = {}
        self._link_locks: dict[tuple[str, int], asyncio.Lock] = {}
        self._directory: Path | None = None

    def _socket_path(self, peer: str) -> Path:
        if self._directory is None:
            self._directory = peers_directory(self.peers_dir)
        return self._directory / f"{peer}.sock"

    async def new_channel(self, prefix: str = "specific.") -> str:
        await self._listen()
        return f"specific.{self.peer}!{secrets.token_hex(8)}"

    async def send(self, channel: str, message: dict[str, Any]) -> None:
        found = PEER_PATTERN.match(channel)
        if found is None or found.group(1) == self.peer:
            await super().send(channel, message)
            return
        await self._send_to_peer(found.group(1), channel, message)

    # Listening for the other processes' sends.

    async def _listen(self) -> None:
        loop = asyncio.get_running_loop()
        if self._listening is not None and self._listening[0] is loop:
            return
        path = self._socket_path(self.peer)
        path.unlink(missing_ok=True)  # ours from an earlier event loop (tests run several)
        server = await asyncio.start_unix_server(self._serve_peer, path=str(path))
        path.chmod(0o600)
        if self._listening is None:
            atexit.register(path.unlink, missing_ok=True)
        self._listening = (loop, server)

    async def _serve_peer(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                header = await reader.readexactly(LENGTH.size)
                (size,) = LENGTH.unpack(header)
                if size > MAX_MESSAGE_BYTES:
                    logger.warning("a peer process sent a %s-byte message; closing its link", size)
                    return
                envelope = msgpack.unpackb(await reader.readexactly(size), raw=False)
                await self._deliver_here(envelope["c"], envelope["m"])
        except (asyncio.IncompleteReadError, ConnectionError):
            return
        except (ValueError, KeyError, TypeError, msgpack.UnpackException):
            logger.warning("a malformed message on the processes' channel link; closing it")
        finally:
            writer.close()

    async def _deliver_here(self, channel: str, message: dict[str, Any]) -> None:
        try:
            await super().send(channel, message)
        except ChannelFull:
            logger.warning("channel %s is full; a message from another process was dropped", channel)

    # Sending to another process.

    async def _send_to_peer(self, peer: str, channel: str, message: dict[str, Any]) -> None:
        body = msgpack.packb({"c": channel, "m": message}, use_bin_type=True)
        if len(body) > MAX_MESSAGE_BYTES:
            raise ValueError(f"A channel message is limited to {MAX_MESSAGE_BYTES} bytes.")
        for attempt in range(2):
            writer = await self._link(peer)
            if writer is None:
                return  # that process is gone: its channels with it
            try:
                writer.write(LENGTH.pack(len(body)) + body)
                await writer.drain()
                return
            except (ConnectionError, RuntimeError):
                self._links.pop(peer, None)
                if attempt:
                    logger.info("could not reach process %s; a message for %s was dropped", peer, channel)

    async def _link(self, peer: str) -> asyncio.StreamWriter | None:
        loop = asyncio.get_running_loop()
        link = self._links.get(peer)
        if link is not None and link[0] is loop and not link[1].is_closing():
            return link[1]
        lock = self._link_locks.setdefault((peer, id(loop)), asyncio.Lock())
        async with lock:
            link = self._links.get(peer)
            if link is not None and link[0] is loop and not link[1].is_closing():
                return link[1]
            try:
                _, writer = await asyncio.open_unix_connection(str(self._socket_path(peer)))
            except (FileNotFoundError, ConnectionRefusedError):
                return None
            self._links[peer] = (loop, writer)
            return writer

    async def close(self) -> None:
        for _, writer in self._links.values():
            with contextlib.suppress(Exception):
                writer.close()
        self._links.clear()
        if self._listening is not None:
            self._listening[1].close()
            self._socket_path(self.peer).unlink(missing_ok=True)
            self._listening = None
