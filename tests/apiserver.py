"""A real HTTP server on 127.0.0.1 for collector tests: routes answer with scripted
responses — pages, and faults (a 500, a 429 with Retry-After, a timeout, a cut-off JSON
body, a 401) — and every request is recorded."""

from __future__ import annotations

import json
import threading
import time
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes


@dataclass
class Reply:
    status: int = 200
    body: Any = None  # JSON-able, or bytes/str sent as they are
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0  # seconds before answering (a timeout, when longer than the client's)
    cut: bool = False  # send only half of the body, as a dropped connection does

    def encoded(self) -> bytes:
        if isinstance(self.body, bytes):
            return self.body
        if isinstance(self.body, str):
            return self.body.encode()
        return json.dumps(self.body, ensure_ascii=False).encode()


Handler = Callable[[Request], Reply]


class ApiServer:
    """Routes by (method, path); ``fail_next(path, *replies)`` queues faults in front."""

    def __init__(self) -> None:
        self.routes: dict[tuple[str, str], Handler] = {}
        self.faults: dict[str, list[Reply]] = {}
        self.requests: list[Request] = []
        self.lock = threading.Lock()
        server = self

        class _Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _serve(self) -> None:
                path, _, query = self.path.partition("?")
                length = int(self.headers.get("Content-Length") or 0)
                request = Request(
                    self.command,
                    path,
                    dict(urllib.parse.parse_qsl(query, keep_blank_values=True)),
                    dict(self.headers),
                    self.rfile.read(length) if length else b"",
                )
                reply = server.answer(request)
                if reply.delay:
                    time.sleep(reply.delay)
                data = reply.encoded()
                self.send_response(reply.status)
                headers = {"Content-Type": "application/json; charset=utf-8", **reply.headers}
                for key, value in headers.items():
                    self.send_header(key, value)
                self.send_header("Content-Length", str(len(data)))
                if reply.cut:
                    self.send_header("Connection", "close")
                self.end_headers()
                try:
                    self.wfile.write(data[: len(data) // 2] if reply.cut else data)
                    if reply.cut:
                        self.wfile.flush()
                        self.close_connection = True
                except (BrokenPipeError, ConnectionResetError):
                    pass

            do_GET = do_POST = _serve  # noqa: N815

            def log_message(self, *args: Any) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}"

    def route(self, method: str, path: str, handler: Handler) -> None:
        self.routes[(method, path)] = handler

    def fail_next(self, path: str, *replies: Reply) -> None:
        with self.lock:
            self.faults.setdefault(path, []).extend(replies)

    def answer(self, request: Request) -> Reply:
        with self.lock:
            self.requests.append(request)
            queued = self.faults.get(request.path)
            if queued:
                return queued.pop(0)
        handler = self.routes.get((request.method, request.path))
        if handler is None:
            return Reply(404, {"error": "no such route"})
        return handler(request)

    def hits(self, path: str) -> list[Request]:
        with self.lock:
            return [r for r in self.requests if r.path == path]

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
