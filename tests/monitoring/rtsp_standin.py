"""A stand-in IP camera on loopback: answers RTSP OPTIONS, and DESCRIBE only with valid Digest credentials."""

from __future__ import annotations

import asyncio
import hashlib
import re
import threading
from dataclasses import dataclass, field

REALM, NONCE = "IP Camera(C1234)", "4f7b2d9a6c1e8f30"


def _md5(text: str) -> str:
    return hashlib.md5(text.encode(), usedforsecurity=False).hexdigest()


@dataclass
class StandInCamera:
    username: str = "viewer"
    password: str = "camera-pass-1"
    port: int = 0
    requests: list[str] = field(default_factory=list)

    def _valid(self, header: str, uri: str) -> bool:
        params = dict(re.findall(r'(\w+)="?([^",]*)"?', header))
        ha1 = _md5(f"{self.username}:{REALM}:{self.password}")
        ha2 = _md5(f"DESCRIBE:{uri}")
        expected = _md5(f"{ha1}:{NONCE}:{ha2}")
        return header.startswith("Digest ") and params.get("username") == self.username and \
            params.get("response") == expected

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = (await reader.readuntil(b"\r\n\r\n")).decode()
                request_line, *lines = head.split("\r\n")
                method, uri, _ = request_line.split(" ")
                headers = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines) if k}
                self.requests.append(method)
                cseq = headers.get("cseq", "0")
                if method == "OPTIONS":
                    reply = f"RTSP/1.0 200 OK\r\nCSeq: {cseq}\r\nPublic: OPTIONS, DESCRIBE, SETUP, PLAY\r\n\r\n"
                elif method == "DESCRIBE" and self._valid(headers.get("authorization", ""), uri):
                    sdp = "v=0\r\no=- 0 0 IN IP4 127.0.0.1\r\ns=Stand-in\r\nm=video 0 RTP/AVP 96\r\n"
                    reply = (f"RTSP/1.0 200 OK\r\nCSeq: {cseq}\r\nContent-Type: application/sdp\r\n"
                             f"Content-Length: {len(sdp)}\r\n\r\n{sdp}")
                else:
                    reply = (f"RTSP/1.0 401 Unauthorized\r\nCSeq: {cseq}\r\n"
                             f'WWW-Authenticate: Digest realm="{REALM}", nonce="{NONCE}"\r\n\r\n')
                writer.write(reply.encode())
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError, ValueError):
            pass
        finally:
            writer.close()

    def start(self) -> None:
        ready = threading.Event()

        def run() -> None:
            self.loop = asyncio.new_event_loop()
            server = self.loop.run_until_complete(asyncio.start_server(self._serve, "127.0.0.1", 0))
            self.port = server.sockets[0].getsockname()[1]
            ready.set()
            self.loop.run_forever()

        threading.Thread(target=run, daemon=True, name="rtsp-stand-in").start()
        ready.wait(5)

    def stop(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
