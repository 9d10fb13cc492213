"""A TCP server on 127.0.0.1 that misbehaves at the socket level, one scenario per server.

Each scenario is a function that receives the accepted socket after the server has read the
request (headers and body): from there it may answer partly, reset, trickle or hang. `received`
counts the requests that reached the server, so a test can prove a POST was not sent twice.
"""

from __future__ import annotations

import socket
import struct
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

Scenario = Callable[[socket.socket, threading.Event], None]

HEADERS_200 = (
    b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 100\r\n"
    b"X-Request-Id: req-1\r\n\r\n"
)
BODY_START = b'{"queryDetails": {"initiatedAt": "2024-07-29T15:51:28.071Z", "jobId": "j"'


def reset(conn: socket.socket) -> None:
    """Close with an RST instead of a FIN (SO_LINGER with a zero timeout)."""
    conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    conn.close()


def reset_mid_headers(conn: socket.socket, _stop: threading.Event) -> None:
    conn.sendall(HEADERS_200[:25])
    time.sleep(0.05)
    reset(conn)


def reset_mid_body(conn: socket.socket, _stop: threading.Event) -> None:
    conn.sendall(HEADERS_200 + BODY_START[:20])
    time.sleep(0.05)
    reset(conn)


def short_body(conn: socket.socket, _stop: threading.Event) -> None:
    """Content-Length: 100, then 20 bytes and a clean close."""
    conn.sendall(HEADERS_200 + BODY_START[:20])
    conn.shutdown(socket.SHUT_WR)
    time.sleep(0.05)
    conn.close()


def close_without_answer(conn: socket.socket, _stop: threading.Event) -> None:
    conn.close()


def trickle_headers(conn: socket.socket, stop: threading.Event) -> None:
    """One byte of the status line and headers every 50 ms: no read timeout ever fires."""
    for byte in HEADERS_200 * 20:
        if stop.is_set():
            break
        try:
            conn.sendall(bytes([byte]))
        except OSError:
            break
        time.sleep(0.05)
    conn.close()


def never_answer(conn: socket.socket, stop: threading.Event) -> None:
    stop.wait(30)
    conn.close()


SCENARIOS: dict[str, Scenario] = {
    "reset-mid-headers": reset_mid_headers,
    "reset-mid-body": reset_mid_body,
    "short-body": short_body,
    "close-without-answer": close_without_answer,
    "trickle-headers": trickle_headers,
    "never-answer": never_answer,
}


class FaultServer:
    """Accepts connections, reads each request, then plays `scenario` on the socket."""

    def __init__(self, scenario: Scenario) -> None:
        self.scenario = scenario
        self.received: list[tuple[str, bytes]] = []  # (request line, raw request)
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._listener = socket.create_server(("127.0.0.1", 0), backlog=64)
        self._listener.settimeout(0.1)
        self.url = f"http://127.0.0.1:{self._listener.getsockname()[1]}"
        self._threads: list[threading.Thread] = []
        self._accepter = threading.Thread(target=self._accept, daemon=True)

    def count(self, method: str | None = None) -> int:
        with self._lock:
            return sum(1 for line, _ in self.received if method is None or line.startswith(method))

    def requests(self) -> list[bytes]:
        with self._lock:
            return [raw for _, raw in self.received]

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self._listener.accept()
            except (TimeoutError, OSError):
                continue
            thread = threading.Thread(target=self._serve, args=(conn,), daemon=True)
            self._threads.append(thread)
            thread.start()

    def _serve(self, conn: socket.socket) -> None:
        try:
            conn.settimeout(5)
            raw = _read_request(conn)
            if raw is None:
                conn.close()
                return
            with self._lock:
                self.received.append((raw.split(b"\r\n", 1)[0].decode("latin-1"), raw))
            conn.settimeout(None)
            self.scenario(conn, self._stop)
        except OSError:
            conn.close()

    @contextmanager
    def running(self) -> Iterator[FaultServer]:
        self._accepter.start()
        try:
            yield self
        finally:
            self._stop.set()
            self._accepter.join(timeout=2)
            self._listener.close()
            for thread in self._threads:
                thread.join(timeout=2)


def _read_request(conn: socket.socket) -> bytes | None:
    """The request's head and its Content-Length body, or None if the client went away."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = conn.recv(65536)
        if not chunk:
            return None
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value.strip())
    while len(body) < length:
        chunk = conn.recv(65536)
        if not chunk:
            return None
        body += chunk
    return head + b"\r\n\r\n" + body
