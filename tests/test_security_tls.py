"""TLS certificates are verified by default, and a failed verification is final.

A local HTTPS server presents a certificate from a CA that only this test knows (trustme). The
SDK must refuse it with APIConnectionError before any HTTP request (so before the key) goes out,
and must not knock again: retrying cannot make a certificate trusted. The same server accepts a
client that trusts the test CA, so verification is the only reason for the refusal.
"""

from __future__ import annotations

import json
import socket
import ssl
import threading
from collections.abc import Iterator

import httpx
import pytest
import trustme
from cortexio_sdk import APIConnectionError, APITimeoutError
from harness import API_KEY, IN_PROGRESS, Api, Kind

pytestmark = [pytest.mark.timeout(30), pytest.mark.reliability("security")]


class TLSServer:
    """HTTPS on 127.0.0.1: counts TCP connections, handshakes done, and HTTP requests read."""

    def __init__(self, context: ssl.SSLContext) -> None:
        self.context = context
        self.connections = 0
        self.handshakes = 0
        self.requests: list[bytes] = []
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._listener.settimeout(0.1)
        self.url = f"https://127.0.0.1:{self._listener.getsockname()[1]}"
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._accept, daemon=True)

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self._listener.accept()
            except (TimeoutError, OSError):
                continue
            self.connections += 1
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        conn.settimeout(5)
        try:
            with self.context.wrap_socket(conn, server_side=True) as tls:
                self.handshakes += 1
                data = b""
                while b"\r\n\r\n" not in data:
                    chunk = tls.recv(65536)
                    if not chunk:
                        return
                    data += chunk
                self.requests.append(data)
                body = json.dumps(IN_PROGRESS).encode()
                tls.sendall(
                    b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                    + f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n".encode()
                    + body
                )
        except (OSError, ssl.SSLError):
            conn.close()

    def __enter__(self) -> TLSServer:
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=2)
        self._listener.close()


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture
def tls_server(ca: trustme.CA) -> Iterator[TLSServer]:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1", "localhost").configure_cert(context)
    with TLSServer(context) as server:
        yield server


async def test_an_untrusted_certificate_is_refused_once(kind: Kind, tls_server: TLSServer) -> None:
    api = Api(kind, api_key=API_KEY, base_url=tls_server.url, max_retries=3, timeout=5)
    try:
        with pytest.raises(APIConnectionError) as caught:
            await api.get("job-1")
    finally:
        await api.close()
    assert not isinstance(caught.value, APITimeoutError)
    assert "CERTIFICATE_VERIFY_FAILED" in str(caught.value) or "certificate" in str(caught.value)
    assert tls_server.requests == []  # nothing, the key included, went over the connection
    assert tls_server.handshakes == 0
    assert tls_server.connections == 1, "a certificate failure was retried"
    assert API_KEY not in str(caught.value)


async def test_a_trusted_certificate_is_accepted(
    kind: Kind, tls_server: TLSServer, ca: trustme.CA
) -> None:
    """The control: the same server and client, trusting the test CA, get an answer."""
    context = ssl.create_default_context()
    ca.configure_trust(context)
    http: httpx.Client | httpx.AsyncClient = (
        httpx.Client(verify=context) if kind == "sync" else httpx.AsyncClient(verify=context)
    )
    api = Api(kind, api_key=API_KEY, base_url=tls_server.url, http_client=http, max_retries=0)
    try:
        state = await api.get("job-1")
    finally:
        await api.close()
        if isinstance(http, httpx.Client):
            http.close()  # noqa: ASYNC212 - the sync client is driven from the loop on purpose
        else:
            await http.aclose()
    assert state.status == "IN_PROGRESS"
    assert tls_server.handshakes == 1
    assert f"Bearer {API_KEY}".encode() in tls_server.requests[0]
