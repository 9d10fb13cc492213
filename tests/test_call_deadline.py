"""A server that trickles its answer one byte at a time cannot hold a call past its deadline.

Per-operation timeouts never fire against such a server (each byte comes in time), so this is
the overall deadline at work, in the sync transport (socket operations clipped to the time left)
and the async one (asyncio.timeout around the attempt, or anyio's cancel scope on trio).
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator

import anyio
import pytest
from cortexio_sdk import APITimeoutError, AsyncCortex, Cortex, DeadlineExceededError

ANSWER = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}"


@pytest.fixture
def trickling_server() -> Iterator[str]:
    """Answers every connection one byte every 0.1 s, headers and body alike."""
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(0.2)
    stop = threading.Event()

    def trickle(conn: socket.socket) -> None:
        with conn:
            conn.recv(65536)
            for byte in ANSWER * 50:
                if stop.is_set():
                    return
                try:
                    conn.sendall(bytes([byte]))
                except OSError:
                    return
                time.sleep(0.1)

    def serve() -> None:
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except TimeoutError:
                continue
            threading.Thread(target=trickle, args=(conn,), daemon=True).start()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{listener.getsockname()[1]}"
    stop.set()
    thread.join(timeout=2)
    listener.close()


def test_sync_call_ends_at_its_deadline(trickling_server: str) -> None:
    with Cortex(api_key="k", base_url=trickling_server, call_timeout=1.5, timeout=5) as client:
        start = time.monotonic()
        with pytest.raises(APITimeoutError):
            client.queries.get("job-1")
        elapsed = time.monotonic() - start
    print(f"\nsync: APITimeoutError after {elapsed:.2f} s (deadline 1.5 s, read timeout 5 s)")
    # At the deadline, not at the read timeout; 3x margin for a loaded machine.
    assert 1.4 <= elapsed <= 4.5


@pytest.mark.parametrize("backend", ["asyncio", "trio"])
def test_async_call_ends_at_its_deadline(trickling_server: str, backend: str) -> None:
    """On asyncio the attempt is bounded by asyncio.timeout, elsewhere by anyio's cancel
    scope: both end it at the deadline."""

    async def scenario() -> float:
        async with AsyncCortex(
            api_key="k", base_url=trickling_server, call_timeout=1.5, timeout=5
        ) as client:
            start = time.monotonic()
            with pytest.raises(DeadlineExceededError):  # the call's own deadline, not a read's
                await client.queries.get("job-1")
            return time.monotonic() - start

    elapsed = anyio.run(scenario, backend=backend)
    print(f"\n{backend}: APITimeoutError after {elapsed:.2f} s (deadline 1.5 s, read timeout 5 s)")
    assert 1.4 <= elapsed <= 4.5
