"""A loopback HTTP server for vendor stand-ins: each subclass answers ``handle`` with status, JSON body
and headers, and can be told to answer 429 (with Retry-After) every n-th request or 500 once on a path."""

from __future__ import annotations

import json
import threading
from abc import ABC, abstractmethod
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlparse

Answer = tuple[int, Any, dict[str, str]]


class StandIn(ABC):
    prefix = ""  # the API's path prefix, e.g. "/api/v2/"

    def __init__(self) -> None:
        self.requests = 0
        self.throttle_every = 0
        self.fail_once: set[str] = set()
        self.log: list[tuple[str, str]] = []
        self.lock = threading.Lock()

    @abstractmethod
    def handle(self, method: str, path: str, query: dict[str, list[str]], headers: Any, body: bytes) -> Answer:
        """The vendor's answer to one request (after auth-free throttling and failure injection)."""

    def _answer(self, method: str, raw_path: str, headers: Any, body: bytes) -> Answer:
        parsed = urlparse(raw_path)
        path = parsed.path.removeprefix(self.prefix).strip("/")
        with self.lock:
            self.requests += 1
            count = self.requests
            self.log.append((method, path))
        if self.throttle_every and count % self.throttle_every == 0:
            return 429, {"error": "Too many requests"}, {"Retry-After": "0"}
        if path in self.fail_once:
            self.fail_once.discard(path)
            return 500, {"error": "Internal error"}, {}
        return self.handle(method, path, parse_qs(parsed.query), headers, body)

    def start(self) -> None:
        stand_in = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # keep-alive, as the vendors' servers

            def _serve(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                status, payload, extra = stand_in._answer(self.command, self.path, self.headers, body)
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                for name, value in extra.items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = do_PUT = _serve

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.origin = f"http://127.0.0.1:{self.server.server_port}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
