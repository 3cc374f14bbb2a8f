"""A tiny stand-in for the complaint system's API on 127.0.0.1, for the tests."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

import pytest

TOKEN = "example-token"
PAGE_SIZE = 2
COMPLAINTS = [
    {"id": 1, "text": "信用卡年费没有提前通知", "created_at": "2026-11-02T09:15:00+08:00"},
    {"id": 2, "text": "网点排队两个小时，电话13812345678也打不通", "created_at": "2026-11-02T10:00:00"},
    {"id": 5, "text": "手机银行转账失败但扣了款", "created_at": "2026-11-03T08:30:00+08:00"},
]
# served under /broken: a complaint without text and one with a time that is no time
BROKEN = [
    COMPLAINTS[0],
    {"id": 3, "text": "", "created_at": "2026-11-02T11:00:00+08:00"},
    {"id": 4, "text": "理财产品说明不清楚", "created_at": "昨天下午"},
]


class _Api(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        url = urlsplit(self.path)
        records = {"/complaints": COMPLAINTS, "/broken/complaints": BROKEN}.get(url.path)
        if self.headers.get("Authorization") != f"Bearer {TOKEN}":
            self._send(401, {"error": "unauthorized"})
        elif records is None:
            self._send(404, {"error": "not found"})
        else:
            after = int(parse_qs(url.query).get("after", ["0"])[0])
            self._send(200, {"complaints": [r for r in records if r["id"] > after][:PAGE_SIZE]})

    def _send(self, status: int, body: object) -> None:
        data = json.dumps(body, ensure_ascii=False).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def complaints_api() -> Iterator[str]:
    """The base URL of the stand-in API."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Api)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


@pytest.fixture
def complaints_token() -> str:
    """The token the stand-in API accepts."""
    return TOKEN
