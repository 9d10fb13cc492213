"""A scripted HTTP server on 127.0.0.1 for tests: real sockets, real HTTP, canned answers.

Each test sets `server.handler` to a function from the received request to a `Reply`; every
request is recorded (method, path, headers, body, time) so tests can count and time retries.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass(frozen=True)
class Received:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    at: float


@dataclass
class Reply:
    status: int = 200
    body: bytes | str | Any = b""
    headers: dict[str, str] = field(default_factory=dict)
    content_type: str = "application/json"
    delay: float = 0.0
    drop: bool = False  # close the connection without answering (after `delay`)

    def encoded(self) -> bytes:
        if isinstance(self.body, bytes):
            return self.body
        if isinstance(self.body, str):
            return self.body.encode()
        return json.dumps(self.body).encode()


Handler = Callable[[Received], Reply]


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    # socketserver's default backlog of 5 drops the SYNs of a burst of concurrent clients, which
    # then retry after a second: that would time the kernel, not the client under test.
    request_queue_size = 128


class LoopbackServer:
    """A threaded HTTP/1.1 server; `url` is its base URL, `requests` what it received."""

    def __init__(self) -> None:
        self.handler: Handler = lambda _request: Reply(
            404, {"message": "no handler", "type": "NOT_FOUND"}
        )
        self.requests: list[Received] = []
        self._lock = threading.Lock()
        outer = self

        class _Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            # Headers and body go out in two writes: with Nagle on, the body waits for the
            # client's delayed ACK (~40 ms) on every keep-alive request.
            disable_nagle_algorithm = True

            def _serve(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                request = Received(
                    method=self.command,
                    path=self.path,
                    headers={k.lower(): v for k, v in self.headers.items()},
                    body=self.rfile.read(length) if length else b"",
                    at=time.monotonic(),
                )
                with outer._lock:
                    outer.requests.append(request)
                reply = outer.handler(request)
                if reply.delay:
                    time.sleep(reply.delay)
                if reply.drop:
                    self.close_connection = True
                    return
                body = reply.encoded()
                try:
                    self.send_response(reply.status)
                    self.send_header("Content-Type", reply.content_type)
                    self.send_header("Content-Length", str(len(body)))
                    for name, value in reply.headers.items():
                        self.send_header(name, value)
                    self.end_headers()
                    self.wfile.write(body)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up (a timeout test): nothing to answer

            do_GET = do_POST = do_PUT = do_DELETE = _serve

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = _Server(("127.0.0.1", 0), _Handler)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        # A short poll interval: stop() waits for it, once per test.
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )

    def start(self) -> LoopbackServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    def count(self, method: str | None = None) -> int:
        with self._lock:
            return sum(1 for r in self.requests if method is None or r.method == method)


class TokenBucket:
    """A handler that lets through `rate` requests per second, at most `burst` at once.

    Over the limit it answers like the Cortex API: 429 with `Retry-After` and a problem+json
    body. `allowed` and `limited` count the two outcomes.
    """

    def __init__(self, ok: Handler, *, rate: float, burst: float, retry_after: int = 1) -> None:
        self.ok = ok
        self.rate = rate
        self.burst = burst
        self.retry_after = retry_after
        self.allowed = 0
        self.limited = 0
        self._tokens = burst
        self._updated = time.monotonic()
        self._lock = threading.Lock()

    def __call__(self, request: Received) -> Reply:
        with self._lock:
            now = time.monotonic()
            self._tokens = min(self.burst, self._tokens + (now - self._updated) * self.rate)
            self._updated = now
            admitted = self._tokens >= 1.0
            if admitted:
                self._tokens -= 1.0
                self.allowed += 1
            else:
                self.limited += 1
        if admitted:
            return self.ok(request)
        body = {
            "type": "about:blank",
            "title": "Too Many Requests",
            "status": 429,
            "detail": f"over {self.rate:g} requests per second",
            "retryAfter": self.retry_after,
        }
        return Reply(
            429,
            body,
            headers={"Retry-After": str(self.retry_after)},
            content_type="application/problem+json",
        )
