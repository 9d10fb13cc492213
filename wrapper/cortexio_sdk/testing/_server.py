"""`FakeCortex`: the fake Cortex Queries API as a real HTTP/1.1 server on 127.0.0.1.

One thread per connection (`ThreadingHTTPServer`, daemon threads), keep-alive, and a listen backlog
large enough for a thousand clients connecting at once. Stopping closes the listening socket and
every open connection, so no thread is left blocked on an idle keep-alive connection.
"""

from __future__ import annotations

import contextlib
import json
import logging
import socket
import threading
import uuid
from collections.abc import Callable, Iterable, Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any, Self

from .._client import AsyncCortex, Cortex
from .._version import __version__
from ._app import (
    MAX_BODY_BYTES,
    Counters,
    FakeApi,
    Job,
    RecordedRequest,
    Reply,
    Request,
)
from ._catalog import DEFAULT_CATALOG, Entity, to_catalog
from ._cql import parse_cql
from ._faults import Faults, RetryAfterIn, Shape, split_rate

__all__ = ["FakeCortex"]

logger = logging.getLogger("cortexio_sdk.testing")

HOST = "127.0.0.1"
# A body larger than the API accepts is still read (and dropped) up to this size, so the 400 can be
# sent on a connection that stays usable; beyond it the connection is closed after the answer.
_DISCARD_LIMIT = 16 * 1024 * 1024


class _BadFraming(Exception):
    """The request's body framing cannot be followed (bad Content-Length, broken chunks)."""


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False  # we close connections ourselves on stop, then join with a timeout
    request_queue_size = 4096  # the listen backlog (the kernel may cap it at somaxconn)

    def __init__(self, app: FakeApi, port: int, idle_timeout: float) -> None:
        self.app = app
        self.idle_timeout = idle_timeout
        self.stopping = threading.Event()
        self._open: dict[socket.socket, threading.Thread] = {}
        self._open_lock = threading.Lock()
        super().__init__((HOST, port), _Handler)

    def process_request(self, request: Any, client_address: Any) -> None:
        thread = threading.Thread(
            target=self.process_request_thread,
            args=(request, client_address),
            name=f"cortex-fake-conn-{client_address[1]}",
            daemon=True,
        )
        with self._open_lock:
            self._open[request] = thread
            open_now = len(self._open)
        self.app.connection_opened(open_now)
        thread.start()

    def shutdown_request(self, request: Any) -> None:
        with self._open_lock:
            self._open.pop(request, None)
        super().shutdown_request(request)

    def close_connections(self, timeout: float) -> None:
        """Unblock every connection thread (idle ones wait in recv) and wait for them to end."""
        with self._open_lock:
            connections = list(self._open.items())
        for sock, _thread in connections:
            with contextlib.suppress(OSError):  # already closed by its thread
                sock.shutdown(socket.SHUT_RDWR)
        deadline = threading.Event()
        timer = threading.Timer(timeout, deadline.set)
        timer.start()
        try:
            for _sock, thread in connections:
                while thread.is_alive() and not deadline.is_set():
                    thread.join(0.05)
        finally:
            timer.cancel()


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = f"cortex-fake/{__version__}"
    server: _HTTPServer

    def version_string(self) -> str:
        return self.server_version  # without the Python version the base class appends

    # Buffer each answer and send it in one write, with Nagle off: a header write then a body
    # write would otherwise wait for the client's delayed ACK, about 40 ms per request.
    wbufsize = 64 * 1024

    def setup(self) -> None:
        super().setup()
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        # An idle keep-alive connection is closed after this long, freeing its thread.
        self.connection.settimeout(self.server.idle_timeout)

    def do_GET(self) -> None:
        self._serve()

    do_POST = do_PUT = do_PATCH = do_DELETE = do_OPTIONS = do_HEAD = do_TRACE = do_GET

    def __getattr__(self, name: str) -> Callable[[], None]:
        # http.server answers a method it has no do_* for with 501 and an HTML page; every
        # method (CONNECT, or one nobody has heard of) goes to the app instead, which answers
        # 405 with an Allow header, as the real API does.
        if name.startswith("do_"):
            return self._serve
        raise AttributeError(name)

    def _serve(self) -> None:
        app = self.server.app
        try:
            body, size, close_after = self._read_body()
        except _BadFraming as exc:
            self.send_error(400, str(exc))
            return
        except (ConnectionError, TimeoutError):
            self.close_connection = True  # the client went away mid-body
            return
        request = Request(
            method=self.command,
            target=self.path,
            headers={name.lower(): value for name, value in self.headers.items()},
            body=body,
            body_size=size,
        )
        app.received(request)
        if close_after:
            self.close_connection = True
        if app.faults.take_drop(request.method):
            self._drop(request)
            return
        delay = app.faults.take_delay(request.method)
        if delay > 0:
            app.delayed()
            if self.server.stopping.wait(delay):
                self._drop(request)
                return
        try:
            reply = app.handle(request)
        except Exception:
            logger.exception("the fake Cortex server failed on %s %s", self.command, self.path)
            reply = app.error(request, 500, "UNHANDLED_EXCEPTION", "The fake server failed")
        app.finished(request, reply.status)  # before sending, so a client that got it sees it
        self._send(request.request_id, reply)

    def _drop(self, request: Request) -> None:
        """Close the connection without a byte of answer."""
        self.close_connection = True
        self.server.app.finished(request, None)

    def _send(self, request_id: str, reply: Reply) -> None:
        try:
            self.send_response(reply.status)
            self.send_header("Content-Type", reply.content_type)
            self.send_header("Content-Length", str(len(reply.body)))
            self.send_header("X-Request-Id", request_id)
            for name, value in reply.headers.items():
                self.send_header(name, value)
            if self.close_connection:
                self.send_header("Connection", "close")
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(reply.body)
            self.wfile.flush()
        except (ConnectionError, TimeoutError):
            self.close_connection = True  # the client gave up waiting: nothing more to do

    def _read_body(self) -> tuple[bytes, int, bool]:
        """(the body, kept only up to the API's limit; its size as sent; close afterwards?)"""
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            return self._read_chunked()
        header = self.headers.get("Content-Length")
        if header is None:
            return b"", 0, False
        try:
            length = int(header)
        except ValueError:
            raise _BadFraming(f"Content-Length is not a number: {header!r}") from None
        if length < 0:
            raise _BadFraming(f"Content-Length is negative: {length}")
        if length > _DISCARD_LIMIT:
            return b"", length, True
        if length > MAX_BODY_BYTES:
            self._discard(length)
            return b"", length, False
        body = self.rfile.read(length)
        if len(body) < length:
            raise ConnectionError("the client closed the connection mid-body")
        return body, length, False

    def _discard(self, length: int) -> None:
        while length > 0:
            chunk = self.rfile.read(min(length, 65536))
            if not chunk:
                raise ConnectionError("the client closed the connection mid-body")
            length -= len(chunk)

    def _read_chunked(self) -> tuple[bytes, int, bool]:
        parts: list[bytes] = []
        size = 0
        while True:
            line = self.rfile.readline(1024)
            try:
                chunk_size = int(line.split(b";")[0].strip(), 16)
            except ValueError:
                raise _BadFraming(f"bad chunk size line {line[:40]!r}") from None
            if chunk_size == 0:
                break
            if size + chunk_size > _DISCARD_LIMIT:
                return b"", size + chunk_size, True
            data = self.rfile.read(chunk_size)
            if len(data) < chunk_size:
                raise ConnectionError("the client closed the connection mid-body")
            self.rfile.readline(1024)  # the CRLF after the chunk
            size += chunk_size
            if size <= MAX_BODY_BYTES:
                parts.append(data)
        while self.rfile.readline(1024) not in (b"\r\n", b"\n", b""):
            pass  # trailers
        return (b"".join(parts) if size <= MAX_BODY_BYTES else b""), size, False

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        """Errors the HTTP layer finds itself (a bad request line, an unknown method...) also
        get an ErrorResponse body, and the connection is closed."""
        self.close_connection = True
        short = self.responses.get(code, ("Error", ""))[0]
        request_id = str(uuid.uuid4())
        body = json.dumps(
            {
                "httpStatus": code,
                "message": message or short,
                "requestId": request_id,
                "type": "BAD_REQUEST" if 400 <= code < 500 else "UNHANDLED_EXCEPTION",
            }
        ).encode()
        try:
            self.send_response(code, short)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.send_header("X-Request-Id", request_id)
            self.send_header("Connection", "close")
            self.end_headers()
            if getattr(self, "command", None) != "HEAD":
                self.wfile.write(body)
        except (ConnectionError, TimeoutError):
            pass

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        pass  # FakeApi.finished logs every request, with its request id

    def log_message(self, format: str, *args: Any) -> None:
        logger.debug("%s: " + format, self.address_string(), *args)


class FakeCortex:
    """A fake Cortex Queries API on 127.0.0.1, for tests and demos; no network, no account.

    >>> with FakeCortex(api_key="test-key", job_seconds=0.5) as fake:
    ...     client = Cortex(api_key=fake.api_key, base_url=fake.base_url)

    - `api_key`: the bearer token it accepts; anything else gets 401.
    - `port`: 0 (default) picks a free one; `base_url` tells which after `start()`.
    - `job_seconds`: how long each job reports IN_PROGRESS (with `progress` rising) before DONE.
    - `catalog`: the entities queries select from (`Entity` objects or mappings with name, tag,
      type and optional description); default `DEFAULT_CATALOG`. Replaceable later via `catalog`.
    - `rate_limit`: a limit over all requests, in requests per second or as a string ("5/s",
      "1000/min"). Over it: 429 with Retry-After. The other keywords are `faults.rate_limit`'s:
      `shape` "token-bucket" (default; `burst` defaults to one second's worth), "fixed-window"
      or "sliding-window" (the window is `window` seconds, else the string's unit: "600/min" is
      600 per 60 s, a number is per 1 s); `retry_after_in` "header" (default) or "body".
    - `idle_timeout`: seconds an idle keep-alive connection is kept open.

    Faults are scripted through `faults` (see `Faults`), before `start()` or while it runs. What it
    saw is in `counters`, `requests` and `jobs()`.
    """

    def __init__(
        self,
        *,
        api_key: str = "test-key",
        port: int = 0,
        job_seconds: float = 1.0,
        catalog: Iterable[Entity | Mapping[str, Any]] | None = None,
        rate_limit: float | str | None = None,
        burst: float | None = None,
        shape: Shape = "token-bucket",
        window: float | None = None,
        retry_after_in: RetryAfterIn = "header",
        idle_timeout: float = 60.0,
    ) -> None:
        if not isinstance(api_key, str) or not api_key.strip() or any(c.isspace() for c in api_key):
            raise ValueError("api_key must be a non-empty str without whitespace")
        if not isinstance(port, int) or not 0 <= port <= 65535:
            raise ValueError(f"port must be an int from 0 to 65535, got {port!r}")
        self.api_key = api_key
        self.faults = Faults(job_seconds=job_seconds)
        if rate_limit is not None:
            if isinstance(rate_limit, str):
                count, unit = split_rate(rate_limit)
                per_second = count / unit
                if window is None and shape != "token-bucket":
                    window = unit  # "600/min" as a window shape: 600 per 60 s window
            else:
                per_second = rate_limit
            self.faults.rate_limit(
                per_second, burst, shape=shape, window=window, retry_after_in=retry_after_in
            )
        elif burst is not None or window is not None or shape != "token-bucket":
            raise ValueError("burst, shape and window need rate_limit")
        elif retry_after_in != "header":
            raise ValueError("retry_after_in needs rate_limit")
        self._api = FakeApi(
            api_key=api_key,
            catalog=DEFAULT_CATALOG if catalog is None else to_catalog(catalog),
            faults=self.faults,
        )
        self._port = port
        self._idle_timeout = idle_timeout
        self._server: _HTTPServer | None = None
        self._thread: threading.Thread | None = None

    # --- lifecycle ---

    def start(self) -> Self:
        """Bind and serve in a background thread; returns self. Raises if already running."""
        if self._server is not None:
            raise RuntimeError("this FakeCortex is already running")
        server = _HTTPServer(self._api, self._port, self._idle_timeout)
        self._thread = threading.Thread(
            target=server.serve_forever,
            kwargs={"poll_interval": 0.02},
            name=f"cortex-fake-{server.server_address[1]}",
            daemon=True,
        )
        self._server = server
        self._thread.start()
        logger.info(
            "fake Cortex Queries API listening on %s (%s)",
            self.base_url,
            self.faults.describe_rate_limit(),
        )
        return self

    def stop(self, timeout: float = 5.0) -> None:
        """Stop accepting, end slow answers and open connections, wait up to `timeout` for them."""
        server, thread = self._server, self._thread
        if server is None or thread is None:
            return
        self._server = self._thread = None
        server.stopping.set()
        server.shutdown()
        server.server_close()
        thread.join(timeout)
        server.close_connections(timeout)

    @property
    def running(self) -> bool:
        return self._server is not None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc_value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    def __repr__(self) -> str:
        where = self.base_url if self._server is not None else "stopped"
        return f"FakeCortex({where})"

    # --- where it is ---

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("FakeCortex is not running: call start() or use it in a with block")
        return int(self._server.server_address[1])

    @property
    def base_url(self) -> str:
        """The base URL to give a client: http://127.0.0.1:PORT (no trailing slash)."""
        return f"http://{HOST}:{self.port}"

    @property
    def env(self) -> dict[str, str]:
        """CORTEX_API_KEY and CORTEX_BASE_URL pointing at this server, for a client or the CLI."""
        return {"CORTEX_API_KEY": self.api_key, "CORTEX_BASE_URL": self.base_url}

    def client(self, **options: Any) -> Cortex:
        """A `cortexio_sdk.Cortex` for this server; `options` go to its constructor."""
        return Cortex(api_key=self.api_key, base_url=self.base_url, **options)

    def async_client(self, **options: Any) -> AsyncCortex:
        """A `cortexio_sdk.AsyncCortex` for this server; `options` go to its constructor."""
        return AsyncCortex(api_key=self.api_key, base_url=self.base_url, **options)

    # --- what it serves and what it saw ---

    @property
    def catalog(self) -> tuple[Entity, ...]:
        return self._api.catalog

    @catalog.setter
    def catalog(self, entities: Iterable[Entity | Mapping[str, Any]]) -> None:
        """Replace the catalog; jobs created from now on select from the new one."""
        self._api.catalog = to_catalog(entities)

    @property
    def counters(self) -> Counters:
        """A snapshot of the counts: requests by method, responses by status, 429s, drops..."""
        return self._api.counters

    @property
    def requests(self) -> list[RecordedRequest]:
        """The requests received (the last 100,000), oldest first, with what was answered."""
        return self._api.requests

    def reset_counters(self) -> None:
        self._api.reset_counters()

    def jobs(self) -> list[Job]:
        """Every job created, oldest first."""
        return self._api.jobs()

    def start_job(
        self,
        query: str = "tag = 'payments'",
        *,
        seconds: float | None = None,
        status: str | None = None,
    ) -> Job:
        """A job started as if a client had run `query` (no request is made or counted): for a
        test of code that waits on a job started earlier. It runs `seconds` (default: the job
        duration) and ends with `status` (default DONE, or what `faults` scripted). A query
        already running is a ValueError, as the API answers 409."""
        return self._api.start_job(query, parse_cql(query), seconds=seconds, status=status)

    def end_job(self, job_id: str, status: str = "CANCELLED") -> Job:
        """End a running job now with `status` (as if cancelled in the UI, or failed)."""
        return self._api.end_job(job_id, status)
