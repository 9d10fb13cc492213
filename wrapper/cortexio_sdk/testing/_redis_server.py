"""`RedisServer`: a throwaway redis-server on 127.0.0.1, for tests of the shared rate limit.

    with RedisServer() as redis_server, FakeCortex(rate_limit=10) as fake:
        limiter = RedisLimiter(url=redis_server.url)
        with Cortex(api_key=fake.api_key, base_url=fake.base_url, rate_limiter=limiter) as client:
            ...
        redis_server.kill()  # a crash, to see the client fall back to its own limiter

It runs the `redis-server` program (Debian and Ubuntu: `apt-get install redis-server`) on a free
port with persistence off, and checks that it answers with a raw PING, so it needs no Redis
client library.
"""

from __future__ import annotations

import contextlib
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from types import TracebackType
from typing import Self

__all__ = ["RedisServer", "RedisServerError"]


class RedisServerError(RuntimeError):
    """redis-server is missing, or did not start or answer in time."""


class RedisServer:
    """redis-server on 127.0.0.1: `url` once started; `kill()` crashes it, `restart()` brings it
    back on the same port (empty), `stop()` ends it."""

    def __init__(self, *, port: int = 0, executable: str = "redis-server") -> None:
        found = shutil.which(executable)
        if found is None:
            raise RedisServerError(
                f"{executable!r} not found on PATH (Debian/Ubuntu: apt-get install redis-server)"
            )
        self.executable = found
        self.port = port
        self._process: subprocess.Popen[bytes] | None = None
        self._dir: tempfile.TemporaryDirectory[str] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def start(self, timeout: float = 10.0) -> Self:
        """Start it (on a free port unless one was given) and wait until it answers PING."""
        if self.running:
            return self
        if self._dir is None:
            self._dir = tempfile.TemporaryDirectory(prefix="cortex-redis-")
        attempts = 1 if self.port else 5
        for _ in range(attempts):
            port = self.port or _free_port()
            self._process = subprocess.Popen(  # noqa: S603 - our arguments, a program from PATH
                [
                    self.executable,
                    *("--port", str(port), "--bind", "127.0.0.1", "--dir", self._dir.name),
                    *("--save", "", "--appendonly", "no", "--logfile", ""),
                ],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            if self._wait_ready(port, timeout):
                self.port = port
                return self
            self._end(signal.SIGKILL)  # the port was taken meanwhile: try another
        raise RedisServerError(f"redis-server did not answer on 127.0.0.1 within {timeout:g} s")

    def kill(self) -> None:
        """End it at once (SIGKILL), as a crash would: clients see refused connections."""
        self._end(signal.SIGKILL)

    def restart(self) -> None:
        """Start it again on the same port, with no data (as after a crash without persistence)."""
        self.kill()
        self.start()

    def stop(self) -> None:
        self._end(signal.SIGTERM)
        if self._dir is not None:
            self._dir.cleanup()
            self._dir = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc_value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    def _wait_ready(self, port: int, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._process is None or self._process.poll() is not None:
                return False
            with (
                contextlib.suppress(OSError),
                socket.create_connection(("127.0.0.1", port), timeout=1) as conn,
            ):
                conn.sendall(b"PING\r\n")
                if conn.recv(64).startswith(b"+PONG"):
                    return True
            time.sleep(0.02)
        return False

    def _end(self, sig: signal.Signals) -> None:
        process, self._process = self._process, None
        if process is None:
            return
        if process.poll() is None:
            process.send_signal(sig)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port
