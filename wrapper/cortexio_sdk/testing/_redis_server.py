"""`RedisServer`: a throwaway redis-server on 127.0.0.1, for tests of the shared rate limit.

    with RedisServer() as redis_server, FakeCortex(rate_limit=10) as fake:
        limiter = RedisLimiter(url=redis_server.url)
        with Cortex(api_key=fake.api_key, base_url=fake.base_url, rate_limiter=limiter) as client:
            ...
        redis_server.kill()  # a crash, to see the client fall back to its own limiter

`RedisServerCluster`: three of them (or `size`) forming a Redis Cluster with no replicas, for
`RedisLimiter(url=cluster.url, cluster=True)`; `cluster.node_of(key)` is the server holding a
key's slot, to kill and restart (it rejoins the cluster with its slots, and no data).

It runs the `redis-server` program (Debian and Ubuntu: `apt-get install redis-server`; a cluster
needs 7.0 or newer) on free ports with persistence off, and speaks to it over raw sockets (PING,
and the CLUSTER commands that form a cluster), so it needs no Redis client library.
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

__all__ = ["RedisServer", "RedisServerCluster", "RedisServerError"]

HASH_SLOTS = 16384
# How long a silent node takes to count as failed. Shorter would make a cluster on a loaded
# machine flap; longer would slow a killed node's return (see `RedisServerCluster.start`).
CLUSTER_NODE_TIMEOUT_MS = 2000


class RedisServerError(RuntimeError):
    """redis-server is missing, or did not start or answer in time."""


class RedisServer:
    """redis-server on 127.0.0.1: `url` once started; `kill()` crashes it, `restart()` brings it
    back on the same port (empty), `pause()` silences it until `resume()`, `stop()` ends it.

    With `cluster=True` it is a Redis Cluster node (`RedisServerCluster` forms the cluster); its
    bus port is `bus_port`, and its cluster configuration survives `restart()`.
    """

    def __init__(
        self, *, port: int = 0, executable: str = "redis-server", cluster: bool = False
    ) -> None:
        found = shutil.which(executable)
        if found is None:
            raise RedisServerError(
                f"{executable!r} not found on PATH (Debian/Ubuntu: apt-get install redis-server)"
            )
        self.executable = found
        self.port = port
        self.cluster = cluster
        self.bus_port = 0
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
            # An explicit bus port: the default, port + 10000, may be taken or past 65535.
            bus_port = (self.bus_port or _free_port(other_than=port)) if self.cluster else 0
            cluster: list[str] = []
            if self.cluster:
                cluster = [
                    *("--cluster-enabled", "yes", "--cluster-port", str(bus_port)),
                    *("--cluster-config-file", "nodes.conf"),
                    *("--cluster-node-timeout", str(CLUSTER_NODE_TIMEOUT_MS)),
                ]
            self._process = subprocess.Popen(  # noqa: S603 - our arguments, a program from PATH
                [
                    self.executable,
                    *("--port", str(port), "--bind", "127.0.0.1", "--dir", self._dir.name),
                    *("--save", "", "--appendonly", "no", "--logfile", ""),
                    *cluster,
                ],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            if self._wait_ready(port, timeout):
                self.port, self.bus_port = port, bus_port
                return self
            self._end(signal.SIGKILL)  # the port was taken meanwhile: try another
        needs = " (a cluster node needs redis-server 7.0 or newer)" if self.cluster else ""
        raise RedisServerError(
            f"redis-server did not answer on 127.0.0.1 within {timeout:g} s{needs}"
        )

    def kill(self) -> None:
        """End it at once (SIGKILL), as a crash would: clients see refused connections."""
        self._end(signal.SIGKILL)

    def pause(self) -> None:
        """Freeze it (SIGSTOP): connections are accepted by the kernel and never answered, as
        from a stalled host."""
        if self._process is not None:
            self._process.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        """Let a paused server run again (SIGCONT); it answers what it was sent meanwhile."""
        if self._process is not None:
            self._process.send_signal(signal.SIGCONT)

    def restart(self) -> None:
        """Start it again on the same port, with no data (as after a crash without persistence);
        a cluster node keeps its identity and slots, and rejoins its cluster."""
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
            process.send_signal(signal.SIGCONT)  # a paused server must run to act on SIGTERM
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


class RedisServerCluster:
    """A Redis Cluster of `size` redis-servers on 127.0.0.1, each serving an equal share of the
    slots, with no replicas.

    `url` names the first node (a cluster client finds the others from it), `nodes` are the
    `RedisServer`s, `node_of(key)` the one holding a key's slot. A killed node makes its slots
    unavailable, as in a real cluster without replicas; `restart()` on it, then `start()` on the
    cluster, waits until the cluster is whole again. `stop()` ends every node.
    """

    def __init__(self, size: int = 3, *, executable: str = "redis-server") -> None:
        if isinstance(size, bool) or not isinstance(size, int) or size < 1:
            raise ValueError(f"size must be an int >= 1, got {size!r}")
        self.nodes = [RedisServer(executable=executable, cluster=True) for _ in range(size)]
        # Node i serves slots [_first[i], _first[i + 1]).
        self._first = [i * HASH_SLOTS // size for i in range(size + 1)]
        self._formed = False

    @property
    def url(self) -> str:
        return self.nodes[0].url

    def start(self, timeout: float = 30.0) -> Self:
        """Start the nodes that are not running (all of them, the first time: then share out the
        slots and introduce the nodes to each other), and wait until every node reports
        `cluster_state:ok`. A restarted node is ready 2 s after it starts (Redis waits that
        long before it serves its slots again), longer if the others marked it failed."""
        try:
            for node in self.nodes:
                node.start()
            if not self._formed:
                self._form()
            self.wait_until_ok(timeout)
        except BaseException:
            self.stop()
            raise
        return self

    def wait_until_ok(self, timeout: float = 30.0) -> None:
        """Poll every node until each knows them all and reports `cluster_state:ok`."""
        deadline = time.monotonic() + timeout
        while True:
            states = [self._state(node) for node in self.nodes]
            if all(state == "ok" for state in states):
                return
            if time.monotonic() >= deadline:
                raise RedisServerError(
                    f"the cluster was not ready within {timeout:g} s: node states {states}"
                )
            time.sleep(0.05)

    def node_of(self, key: str) -> RedisServer:
        """The node that serves `key`'s hash slot (as the cluster computes it)."""
        running = next((node for node in self.nodes if node.running), None)
        if running is None:
            raise RedisServerError("no node of the cluster is running")
        slot = int(_command(running.port, "CLUSTER", "KEYSLOT", key))
        return next(node for i, node in enumerate(self.nodes) if slot < self._first[i + 1])

    def stop(self) -> None:
        for node in self.nodes:
            node.stop()  # removes its configuration: the next start forms a new cluster
        self._formed = False

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc_value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    def _form(self) -> None:
        for i, node in enumerate(self.nodes):
            first, last = self._first[i], self._first[i + 1] - 1
            _command(node.port, "CLUSTER", "ADDSLOTSRANGE", first, last)
        hub = self.nodes[0]
        for node in self.nodes[1:]:
            _command(node.port, "CLUSTER", "MEET", "127.0.0.1", hub.port, hub.bus_port)
        self._formed = True

    def _state(self, node: RedisServer) -> str:
        """`ok`, or what is still missing in this node's view."""
        if not node.running:
            return "not running"
        try:
            info = _command(node.port, "CLUSTER", "INFO")
        except (OSError, RedisServerError) as exc:
            return f"no answer ({exc})"
        fields = dict(line.split(":", 1) for line in info.splitlines() if ":" in line)
        if fields.get("cluster_known_nodes") != str(len(self.nodes)):
            return f"knows {fields.get('cluster_known_nodes')} of {len(self.nodes)} nodes"
        return fields.get("cluster_state", "unknown")


def _command(port: int, *args: str | int, timeout: float = 5.0) -> str:
    """One command to 127.0.0.1:port over a raw socket; the reply as text (an integer's too).

    Reads the replies the CLUSTER commands above give: a status, an error, an integer or a bulk
    string.
    """
    parts = [str(arg).encode() for arg in args]
    request = b"*%d\r\n" % len(parts) + b"".join(b"$%d\r\n%s\r\n" % (len(p), p) for p in parts)
    with (
        socket.create_connection(("127.0.0.1", port), timeout=timeout) as conn,
        conn.makefile("rb") as replies,
    ):
        conn.sendall(request)
        line = replies.readline()
        kind, rest = line[:1], line[1:].rstrip(b"\r\n").decode()
        if kind in (b"+", b":"):
            return rest
        if kind == b"$" and int(rest) >= 0:
            return replies.read(int(rest) + 2)[:-2].decode()
        raise RedisServerError(f"{args[0]} {args[1]} on port {port}: {line.decode().strip()}")


def _free_port(other_than: int = 0) -> int:
    while True:
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port: int = probe.getsockname()[1]
        if port != other_than:
            return port
