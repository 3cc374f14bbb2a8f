"""A real HTTP server on 127.0.0.1 that receives notices the way a chat robot or a webhook
consumer does, for the notifier and outbox tests.

Each path answers from a script of behaviours, then with 200 and ``{"errcode": 0}``:

* an ``int`` status (``500``, ``400``…): answered at once; a 2xx accepts the notice;
* ``(status, body)``: that status with that JSON body (a robot's ``errcode``);
* ``"hang"``: the notice is accepted (the receiver did its work) but the answer only goes
  out when the test releases the server — the sender has timed out by then, so it will
  send the notice again;
* ``("slow", seconds)``: accepted, answered after ``seconds``.

The receiver drops repeats by the ``X-Bihuan-Notice-Id`` header, as the notifier's docs
tell receivers to: :meth:`Receiver.accepted` is what a deduplicating consumer keeps,
:attr:`Receiver.requests` everything that arrived.
"""

from __future__ import annotations

import json
import threading
import time
import urllib.parse
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

NOTICE_ID = "X-Bihuan-Notice-Id"


@dataclass
class Request:
    path: str
    query: dict[str, str]
    raw_query: str
    headers: dict[str, str]
    json: Any

    @property
    def notice_id(self) -> str | None:
        return self.headers.get(NOTICE_ID)


@dataclass
class Receiver:
    requests: list[Request] = field(default_factory=list)
    script: dict[str, list[Any]] = field(default_factory=dict)
    release: threading.Event = field(default_factory=threading.Event)
    _accepted: dict[str, list[Request]] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                path, _, query = self.path.partition("?")
                request = Request(
                    path=path,
                    query=dict(urllib.parse.parse_qsl(query)),
                    raw_query=query,
                    headers=dict(self.headers),
                    json=json.loads(body),
                )
                with receiver._lock:
                    receiver.requests.append(request)
                    steps = receiver.script.get(path) or []
                    step = steps.pop(0) if steps else 200
                status, answer = 200, {"errcode": 0, "errmsg": "ok"}
                if isinstance(step, int):
                    status = step
                    answer = {"errcode": 0} if step < 300 else {"error": "scripted"}
                elif isinstance(step, tuple) and step[0] != "slow":
                    status, answer = step
                if 200 <= status < 300 and (not isinstance(answer, dict) or answer.get("errcode", 0) == 0):
                    receiver._accept(request)
                if step == "hang":
                    receiver.release.wait(30)
                elif isinstance(step, tuple) and step[0] == "slow":
                    time.sleep(step[1])
                data = json.dumps(answer).encode()
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                except OSError:  # the sender gave up waiting (the "hang" case)
                    pass

            def log_message(self, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.05,), daemon=True)
        self._thread.start()
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"

    def _accept(self, request: Request) -> None:
        kept = self._accepted.setdefault(request.path, [])
        if request.notice_id is None or all(r.notice_id != request.notice_id for r in kept):
            kept.append(request)

    def accepted(self, path: str) -> list[Request]:
        """The notices a receiver that drops repeats by notice id kept, in order."""
        with self._lock:
            return list(self._accepted.get(path, []))

    def to(self, path: str) -> list[Request]:
        """Every request that arrived at ``path``, repeats included."""
        with self._lock:
            return [r for r in self.requests if r.path == path]

    def close(self) -> None:
        self.release.set()
        self._server.shutdown()
        self._server.server_close()
