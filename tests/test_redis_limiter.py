"""The rate limit shared through Redis: against real redis-server processes on 127.0.0.1.

Each test starts its own redis-server (`cortexio_sdk.testing.RedisServer`, on a free port) and,
where HTTP is involved, a `FakeCortex`. Several clients in one process stand for several
processes: each has its own connections and its own in-process fallback, as a process would.
The tests taking `shared` run twice: on one redis-server, and on a Redis Cluster of three
(`RedisServerCluster`, formed once for the module and emptied for each test).
"""

from __future__ import annotations

import contextlib
import dataclasses
import itertools
import logging
import os
import re
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

import anyio
import pytest
import redis
from cortexio_sdk import AsyncCortex, ConfigurationError, Cortex, CortexError, RedisLimiter
from cortexio_sdk._ratelimit._limiter import Tuning
from cortexio_sdk._ratelimit._redis_bucket import _Fleet, _parse_read
from cortexio_sdk.testing import FakeCortex, RedisServer, RedisServerCluster, RedisServerError
from harness import API_KEY, Api, Kind, closed_port, key_free
from redis.cluster import RedisCluster

REQUIRED = os.environ.get("CORTEX_REQUIRE_REDIS") == "1"
ORIGIN = "https://api.example.test:443"
# The state of one base URL and key, and who shares it: a digest in braces (a hash tag).
KEY_NAME = re.compile(r"cortexio-sdk:rate-limit:\{[0-9a-f]{32}\}(:clients)?")


Started = TypeVar("Started", RedisServer, RedisServerCluster)


def started(start: Callable[[], Started]) -> Started:
    """Start it, or skip the test when redis-server is missing or does not start; the nox
    sessions install redis-server and make that a failure (CORTEX_REQUIRE_REDIS=1)."""
    try:
        return start()
    except RedisServerError as exc:
        if REQUIRED:
            pytest.fail(f"redis-server is required here: {exc}")
        pytest.skip(str(exc))


@pytest.fixture
def redis_server() -> Iterator[RedisServer]:
    """A fresh redis-server."""
    server = started(lambda: RedisServer().start())
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def redis_cluster() -> Iterator[RedisServerCluster]:
    """Three redis-servers forming a cluster: formed once (about 2 s), used through `shared`."""
    cluster = started(lambda: RedisServerCluster(3).start())
    try:
        yield cluster
    finally:
        cluster.stop()


@dataclasses.dataclass
class Shared:
    """Where a test's clients share their bucket: one redis-server, or a cluster of three."""

    url: str
    cluster: bool
    servers: list[RedisServer]
    server_of: Callable[[str], RedisServer]  # the server holding a key
    inspect: Any  # redis.Redis, or a RedisCluster client: reads a key wherever it lives

    def limiter(self, **settings: Any) -> RedisLimiter:
        return RedisLimiter(url=self.url, cluster=self.cluster, **settings)

    def names(self) -> list[str]:
        """The keys on every server that answers (a killed or rejoining one may not)."""
        found: list[str] = []
        for server in self.servers:
            with (
                contextlib.suppress(redis.RedisError),
                redis.Redis.from_url(server.url, decode_responses=True, socket_timeout=1) as r,
            ):
                found += r.keys("*")
        return found


@pytest.fixture(params=["server", "cluster"])
def shared(request: pytest.FixtureRequest) -> Iterator[Shared]:
    """The test on a fresh redis-server, then on the module's cluster, whole and empty."""
    if request.param == "server":
        server: RedisServer = request.getfixturevalue("redis_server")
        inspect = redis.Redis.from_url(server.url, decode_responses=True)
        where = Shared(server.url, False, [server], lambda _: server, inspect)
    else:
        cluster: RedisServerCluster = request.getfixturevalue("redis_cluster")
        cluster.start()  # whole again, if an earlier test killed a node
        for node in cluster.nodes:
            with redis.Redis.from_url(node.url) as r:
                r.flushall()
        inspect = RedisCluster.from_url(cluster.url, decode_responses=True)
        where = Shared(cluster.url, True, cluster.nodes, cluster.node_of, inspect)
    try:
        yield where
    finally:
        inspect.close()


@pytest.fixture
def inspect(redis_server: RedisServer) -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(redis_server.url, decode_responses=True)
    try:
        yield client
    finally:
        client.close()


def bind(
    where: str | Shared,
    *,
    api_key: str = API_KEY,
    origin: str = ORIGIN,
    rpm: float = 600,
    told: bool = True,
    **settings: Any,
) -> Any:
    """The limiter of one client (one process) at a Redis URL, or at `shared`; told the limit
    (`rpm`) unless `told=False`, so it paces at it from the start."""
    limiter = (
        where.limiter(**settings)
        if isinstance(where, Shared)
        else RedisLimiter(url=where, **settings)
    )
    return limiter.bind(api_key=api_key, origin=origin, requests_per_minute=rpm, told=told)


@contextlib.contextmanager
def silent_redis() -> Iterator[str]:
    """The URL of a "Redis" whose kernel accepts connections and that never reads or answers."""
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(64)
        yield f"redis://127.0.0.1:{silent.getsockname()[1]}/0"


class StallingProxy:
    """A TCP proxy to a real Redis that can hold back its replies for a while (`stall`), as a
    loaded host or a Redis pausing for a fork does: the connection stays up, answers come late."""

    def __init__(self, upstream: str) -> None:
        host, port = upstream.removeprefix("redis://").split("/")[0].rsplit(":", 1)
        self._upstream = (host, int(port))
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.url = f"redis://127.0.0.1:{self._listener.getsockname()[1]}/0"
        self._until = 0.0
        self._sockets: list[socket.socket] = [self._listener]
        threading.Thread(target=self._accept, daemon=True).start()

    def stall(self, seconds: float) -> None:
        self._until = time.monotonic() + seconds

    def _accept(self) -> None:
        with contextlib.suppress(OSError):
            while True:
                client, _ = self._listener.accept()
                server = socket.create_connection(self._upstream)
                self._sockets += [client, server]
                threading.Thread(target=self._pump, args=(client, server), daemon=True).start()
                threading.Thread(target=self._pump, args=(server, client), daemon=True).start()

    def _pump(self, source: socket.socket, sink: socket.socket) -> None:
        with contextlib.suppress(OSError):
            while data := source.recv(65536):
                while time.monotonic() < self._until:
                    time.sleep(0.01)
                sink.sendall(data)
        for end in (source, sink):
            with contextlib.suppress(OSError):
                end.shutdown(socket.SHUT_RDWR)

    def close(self) -> None:
        for each in self._sockets:
            each.close()


async def book(kind: Kind, limiter: Any) -> Any:
    """One slot, through the sync or the async step."""
    return limiter.reserve() if kind == "sync" else await limiter.areserve()


async def book_at_once(kind: Kind, limiter: Any, callers: int) -> list[Any]:
    """`callers` slots booked at once: threads released together, or tasks of one group."""
    tickets: list[Any] = []
    if kind == "sync":
        start = threading.Barrier(callers)

        def book_one() -> None:
            start.wait()
            tickets.append(limiter.reserve())

        threads = [threading.Thread(target=book_one) for _ in range(callers)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(30)
    else:

        async def abook_one() -> None:
            tickets.append(await limiter.areserve())

        async with anyio.create_task_group() as group:
            for _ in range(callers):
                group.start_soon(abook_one)
    return tickets


def state_key(inspect: redis.Redis | RedisCluster) -> str:
    """The one bucket's hash (beside it: its clients)."""
    # A cluster client sends KEYS to one node unless told to ask every primary.
    every = {"target_nodes": RedisCluster.PRIMARIES} if isinstance(inspect, RedisCluster) else {}
    names = sorted(inspect.keys("*", **every))
    assert len(names) == 2, names
    assert names[1] == names[0] + ":clients"
    return names[0]


def redis_warnings(records: list[logging.LogRecord], text: str) -> list[str]:
    return [
        r.getMessage()
        for r in records
        if r.name == "cortexio_sdk" and r.levelno >= logging.WARNING and text in r.getMessage()
    ]


def redis_back(records: list[logging.LogRecord]) -> list[str]:
    return [r.getMessage() for r in records if r.name == "cortexio_sdk" and "is back" in str(r.msg)]


# -- settings -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("settings", "named"),
    [
        ({"url": "http://127.0.0.1:6379"}, "url"),
        ({"url": "redis://"}, "url"),
        ({"url": "redis://127.0.0.1:0/0"}, "url"),
        ({"url": "unix://"}, "url"),
        ({"url": 6379}, "url"),
        ({"url": "redis://h", "timeout": 0}, "timeout"),
        ({"url": "redis://h", "timeout": float("nan")}, "timeout"),
        ({"url": "redis://h", "timeout": True}, "timeout"),
        ({"url": "redis://h", "timeout": "1"}, "timeout"),
        ({"url": "redis://h", "retry_interval": -1}, "retry_interval"),
        ({"url": "redis://h", "retry_interval": float("inf")}, "retry_interval"),
        ({"url": "redis://h", "prefix": ""}, "prefix"),
        ({"url": "redis://h", "max_connections": 0}, "max_connections"),
        ({"url": "redis://h", "max_connections": 2.5}, "max_connections"),
        ({"url": "redis://h", "prefix": "app:{tag}"}, "prefix"),  # a second hash tag
        ({"url": "redis://h", "prefix": "app}"}, "prefix"),
        ({"url": "redis://h", "cluster": "yes"}, "cluster"),
        ({"url": "redis://h", "cluster": 1}, "cluster"),
        ({"url": "unix:///run/redis.sock", "cluster": True}, "url"),  # a cluster is TCP only
        ({"url": "redis://h/1", "cluster": True}, "url"),  # and has database 0 alone
        ({"url": "redis://h?db=2", "cluster": True}, "url"),
    ],
)
def test_bad_settings_are_named_before_any_connection(settings: dict[str, Any], named: str) -> None:
    with pytest.raises(ConfigurationError, match=named):
        RedisLimiter(**settings)


def test_cluster_urls_name_a_node_and_database_0_at_most() -> None:
    for url in ("redis://h", "redis://h:7000/", "redis://h/0", "rediss://u:pw@h:7000/0?db=0"):
        assert RedisLimiter(url=url, cluster=True).cluster


@pytest.mark.parametrize("cluster", [False, True])
def test_a_url_redis_cannot_parse_fails_when_the_client_is_built(cluster: bool) -> None:
    limiter = RedisLimiter(
        url="redis://127.0.0.1:6379/0?health_check_interval=often", cluster=cluster
    )
    with pytest.raises(ConfigurationError, match="not valid"):
        Cortex(api_key=API_KEY, base_url="http://127.0.0.1:1", rate_limiter=limiter)


def test_rate_limiter_must_be_a_redis_limiter() -> None:
    with pytest.raises(ConfigurationError, match="rate_limiter must be a RedisLimiter"):
        Cortex(api_key=API_KEY, rate_limiter="redis://127.0.0.1:6379")  # type: ignore[arg-type]


def test_a_bad_environment_url_names_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CORTEX_RATE_LIMIT_REDIS_URL", "localhost:6379")
    with pytest.raises(ConfigurationError, match="CORTEX_RATE_LIMIT_REDIS_URL"):
        Cortex(api_key=API_KEY)


def test_bad_cluster_settings_in_the_environment_name_the_variables(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("CORTEX_RATE_LIMIT_REDIS_URL", "unix:///run/redis.sock")
    monkeypatch.setenv("CORTEX_RATE_LIMIT_REDIS_CLUSTER", "maybe")
    with pytest.raises(ConfigurationError, match="CORTEX_RATE_LIMIT_REDIS_CLUSTER must be 1 or 0"):
        Cortex(api_key=API_KEY)
    monkeypatch.setenv("CORTEX_RATE_LIMIT_REDIS_CLUSTER", "true")
    with pytest.raises(ConfigurationError) as raised:
        Cortex(api_key=API_KEY)
    assert "CORTEX_RATE_LIMIT_REDIS_URL with CORTEX_RATE_LIMIT_REDIS_CLUSTER=1" in str(raised.value)
    assert "redis:// or rediss://" in str(raised.value)


def test_the_password_is_never_shown() -> None:
    limiter = RedisLimiter(url="redis://user:s3cr3t-pw@127.0.0.1:6379/0")
    assert "s3cr3t-pw" not in repr(limiter)
    assert "user:***@127.0.0.1:6379" in repr(limiter)
    shared = limiter.bind(api_key=API_KEY, origin=ORIGIN, requests_per_minute=600)
    assert "s3cr3t-pw" not in repr(shared)


def test_each_origin_and_key_has_its_own_digest_and_none_shows_the_key() -> None:
    url = "redis://127.0.0.1:6379/0"
    names = {
        bind(url).key,
        bind(url, api_key=API_KEY + "x").key,
        bind(url, origin="https://other.example.test:443").key,
    }
    assert len(names) == 3
    assert all(KEY_NAME.fullmatch(name) and key_free(name) for name in names)
    assert all(not name.endswith(":clients") for name in names)
    assert bind(url).key == bind(url).key  # every process computes the same name


# -- the shared bucket, on a real Redis ---------------------------------------------------------


def test_processes_book_slots_in_one_bucket(shared: Shared) -> None:
    first, second = bind(shared), bind(shared)  # two processes, one key
    tickets = [limiter.reserve() for _ in range(10) for limiter in (first, second)]
    # 10/s for the pair together, not for each of them: one slot every 0.1 s (less the margin),
    # alternately, on Redis's clock. The second process's first call also connects to Redis (to
    # a cluster, slowly when the machine is loaded): its slot may come later than the first's
    # next one would have, but never sooner, and the schedule is one from then on.
    assert tickets[0].wait == 0.0
    gaps = [b.at - a.at for a, b in itertools.pairwise(tickets)]
    spacing = 1 / (10 * 0.985)
    assert gaps[0] >= spacing - 1e-6
    assert gaps[1:] == pytest.approx([spacing] * 18, abs=1e-6)
    other = bind(shared, api_key="another-key")
    assert other.reserve().wait == 0.0  # another key's bucket is untouched


def test_a_hold_off_voids_every_process_s_booked_slots(shared: Shared) -> None:
    booker, limited, newcomer = (bind(shared) for _ in range(3))
    inspect = shared.inspect
    tickets = [booker.reserve() for _ in range(15)]
    still = booker.reserve(tickets[-1])  # still valid: the time left to its slot
    assert (still.epoch, still.at) == (tickets[-1].epoch, tickets[-1].at)
    assert 0 < still.wait <= tickets[-1].wait
    limited.hold_off(1.0)  # another process met a 429
    rebooked = booker.reserve(tickets[-1])
    assert rebooked.epoch != tickets[-1].epoch
    assert rebooked.wait >= 0.7  # the 1 s hold-off, less the steps since (generous)
    assert newcomer.reserve().wait >= 0.7  # the 1 s hold-off, less the steps since (generous)
    key = state_key(inspect)
    # 10/s (less the margin) met a 429: the fleet tries half of it next, as one process would.
    hi = float(inspect.hget(key, "hi"))
    assert hi == pytest.approx(10.0 * 0.985)
    assert float(inspect.hget(key, "rate")) == pytest.approx(hi / 2)
    assert inspect.zcard(key + ":clients") == 3  # who shares the key: random ids


def test_a_field_another_version_wrote_is_dropped_not_kept(shared: Shared) -> None:
    """A rolling deploy: an older client left a field this version does not know. The next step
    starts the state afresh and writes it whole, so the steps after it keep their schedule."""
    limiter, inspect = bind(shared), shared.inspect
    limiter.reserve()
    key = state_key(inspect)
    inspect.hset(key, "limited", "7.0")  # what the version before wrote
    limiter.reserve()  # afresh, and written back without it
    assert inspect.hget(key, "limited") is None
    assert limiter.reserve().wait > 0.05  # paced again: the state is read back, not reset


def test_successes_are_reported_with_the_next_booking(shared: Shared) -> None:
    limiter, inspect = bind(shared), shared.inspect
    limiter.hold_off(0.01)
    for _ in range(10):
        limiter.succeeded()  # no Redis call: counted here
    key = state_key(inspect)
    assert float(inspect.hget(key, "since_ok")) == 0.0
    limiter.reserve()
    assert float(inspect.hget(key, "since_ok")) == 10.0  # all ten, with the booking


async def test_the_async_twins_share_the_bucket_with_sync_callers(shared: Shared) -> None:
    sync_side, async_side = bind(shared), bind(shared)
    try:
        first = sync_side.reserve()
        for _ in range(8):
            sync_side.reserve()  # nine slots, one every 0.1 s (less the margin)
        ticket = await async_side.areserve()
        assert ticket.shared
        # The tenth slot, on Redis's clock: however long the bookings took to make.
        assert ticket.at - first.at == pytest.approx(9 / (10 * 0.985), abs=1e-6)
        await async_side.ahold_off(1.0)
        assert sync_side.reserve().wait >= 0.7  # the 1 s hold-off, less the steps since (generous)
        assert (
            await async_side.areserve(ticket)
        ).wait >= 0.7  # the 1 s hold-off, less the steps since (generous)
    finally:
        await async_side.aclose()
        sync_side.close()


def test_when_redis_goes_away_each_client_keeps_to_its_share(shared: Shared) -> None:
    """In a cluster: the node holding the key goes away."""
    first, second = bind(shared), bind(shared)
    second.reserve()
    first.reserve()  # has seen Redis count two clients sharing the key's 10/s
    shared.server_of(first.key).kill()
    fallback = [first.reserve().wait for _ in range(3)]
    assert first.local.max_rate == pytest.approx(5.0)
    # Paced at 5/s, with no burst (the server's bucket was being used up together), from its
    # own slot of the fleet's schedule, in the first interval: the processes fall back at once.
    assert 0.0 <= fallback[0] <= 0.2 + 0.05
    gaps = [later - earlier for earlier, later in itertools.pairwise(fallback)]
    assert gaps == pytest.approx([0.2, 0.2], abs=0.05)
    first.close()
    second.close()


def test_when_redis_goes_away_the_processes_take_turns_in_the_schedule_they_shared(
    shared: Shared,
) -> None:
    """Each keeps to its own slots of the fleet's last schedule (every other one of two): the
    two processes' requests alternate, an interval of the fleet's rate apart, as they did on
    Redis. (Starting each at a random point of its interval, two processes sent within a
    token's time of each other now and then, refused by a bucket of one.)"""
    first, second = bind(shared), bind(shared)
    for process in (second, first, second):  # each has seen Redis count two clients
        process.reserve()
    shared.server_of(first.key).kill()
    slots = []
    for process in (first, second):
        for _ in range(3):
            slots.append((time.monotonic() + process.reserve().wait, process))
    slots.sort(key=lambda slot: slot[0])
    interval = 1 / (10 * Tuning().margin)  # told 600 a minute: 9.85/s
    gaps = [later[0] - earlier[0] for earlier, later in itertools.pairwise(slots)]
    assert gaps == pytest.approx([interval] * 5, abs=0.03)
    assert all(a[1] is not b[1] for a, b in itertools.pairwise(slots))  # in turn
    first.close()
    second.close()


@pytest.mark.parametrize(
    "reply",
    [
        ["1.5", 0, 2, 2],  # a place past the clients
        ["1.5", 0, 2, -1],
        ["1.5", 0, 2, True],
        ["1.5", 0, 2],  # no place (a script of before)
        ["1.5", 0, 2, 1, "field"],  # a field with no value
    ],
)
def test_a_read_reply_the_script_never_gives_is_refused(reply: list[Any]) -> None:
    """A step that reads it fails, and the client limits itself locally (as for any reply it
    cannot read), rather than dealing out slots by a place that is not there."""
    with pytest.raises(ValueError, match="unexpected"):
        _parse_read(reply)


@pytest.mark.parametrize("clients", [2, 3, 6])
def test_the_fleet_s_slots_are_dealt_out_by_place_whatever_each_process_read_last(
    clients: int,
) -> None:
    """Processes read the schedule at different slots of it, with clocks of their own: each
    still finds its own slots on the one schedule, apart from every other process's."""
    rate, slot, redis_now = 7.3, 152_345_678.891, 152_345_681.0  # (Redis's seconds: ~1.5e8)
    interval = 1 / rate
    firsts = []
    for place in range(clients):
        offset = 1000.0 * place - 3.7  # this process's clock less Redis's
        read = slot + (place * 5 % 7) * interval  # the next slot when it last stepped
        fleet = _Fleet(rate, clients, place, read, offset)
        now = redis_now + offset + place * 0.01  # each falls back a little later
        phase = fleet.phase(now)
        assert 0.0 <= phase < 1.0
        firsts.append(now - offset + phase * clients * interval)  # on Redis's clock
    numbers = [(first - slot) * rate for first in firsts]
    assert numbers == pytest.approx([round(n) for n in numbers], abs=1e-6)  # on the schedule
    assert len({round(n) % clients for n in numbers}) == clients  # each its own


@pytest.mark.parametrize("kind", ["sync", "async"])
async def test_callers_beyond_the_pool_wait_their_turn(kind: Kind, shared: Shared) -> None:
    """16 callers at once on a pool of 2 connections (per node, in a cluster): none falls back;
    they book the 16 slots that 16 calls one after another book (on another key)."""
    one_by_one = bind(shared, api_key=API_KEY + "-one-by-one")
    expected = [one_by_one.reserve().wait for _ in range(16)]
    one_by_one.close()
    limiter = bind(shared, max_connections=2, timeout=1.0)
    try:
        tickets = await book_at_once(kind, limiter, 16)
    finally:
        await limiter.aclose()
    assert len(tickets) == 16
    assert all(ticket.shared for ticket in tickets)
    # The same slots: one every 0.1 s on Redis's clock, however the bookings interleaved.
    slots = sorted(ticket.at for ticket in tickets)
    spacing = [later - earlier for earlier, later in itertools.pairwise(slots)]
    assert spacing == pytest.approx([spacing[0]] * 15, abs=1e-6)
    assert spacing[0] == pytest.approx(0.1, rel=0.02)  # 10/s, less the margin
    assert sorted(expected) == expected


class Counted:
    """A bucket's script calls, counted by op, and the most in flight at once; `before`, if
    set, is called with each sync call's arguments before it is sent."""

    def __init__(self, limiter: Any) -> None:
        self.before: Callable[[list[Any]], None] | None = None
        self.ops: list[str] = []
        self.most = 0
        self._now = 0
        self._lock = threading.Lock()
        self._sync, self._async = limiter._sync_script, limiter._async_script
        limiter._sync_script, limiter._async_script = self._call, self._acall

    def _enter(self, args: list[Any]) -> None:
        with self._lock:
            self.ops.append(args[0])
            self._now += 1
            self.most = max(self.most, self._now)

    def _leave(self) -> None:
        with self._lock:
            self._now -= 1

    def _call(self, **kwargs: Any) -> Any:
        self._enter(kwargs["args"])
        try:
            time.sleep(0.002)  # a round trip long enough for callers to overlap
            if self.before is not None:
                self.before(kwargs["args"])
            return self._sync(**kwargs)
        finally:
            self._leave()

    async def _acall(self, **kwargs: Any) -> Any:
        self._enter(kwargs["args"])
        try:
            await anyio.sleep(0.002)
            return await self._async(**kwargs)
        finally:
            self._leave()


@pytest.mark.parametrize("kind", ["sync", "async"])
async def test_a_process_s_callers_take_turns_on_redis(kind: Kind, shared: Shared) -> None:
    """16 callers of one client at once send one step at a time: in one process they would
    only void each other's reads. So each booking is one read and one write, none read twice.
    (A `timeout` long enough that on a loaded machine none waits past its bound.)"""
    limiter = bind(shared, timeout=2.0)
    counted = Counted(limiter)
    try:
        await book_at_once(kind, limiter, 16)
    finally:
        await limiter.aclose()
    assert counted.most == 1
    assert sorted(counted.ops) == ["read"] * 16 + ["write"] * 16


@pytest.mark.parametrize("kind", ["sync", "async"])
async def test_a_caller_that_waits_too_long_for_its_turn_limits_itself_alone(
    kind: Kind, redis_server: RedisServer, caplog: pytest.LogCaptureFixture
) -> None:
    """The process's other steps hold Redis past a step's own bound (3 x `timeout`): this
    caller stops waiting and limits itself locally, with no warning and no outage."""
    limiter = bind(redis_server.url, timeout=0.1, retry_interval=60)
    caplog.set_level(logging.DEBUG, logger="cortexio_sdk")
    try:
        assert (await book(kind, limiter)).shared
        turn = limiter._turn if kind == "sync" else limiter._aturn()
        if kind == "sync":
            turn.acquire()
        else:
            await turn.acquire()
        started = time.monotonic()
        try:
            ticket = await book(kind, limiter)
        finally:
            turn.release()
        assert not ticket.shared
        assert 0.3 <= time.monotonic() - started < 1.0  # the step's bound, then locally
        assert (await book(kind, limiter)).shared  # no outage: Redis is asked again at once
    finally:
        await limiter.aclose()
    assert redis_warnings(caplog.records, "") == []
    assert any("took longer than" in r.getMessage() for r in caplog.records)


def test_on_trio_the_async_steps_fall_back_instead_of_raising(
    redis_server: RedisServer, caplog: pytest.LogCaptureFixture
) -> None:
    """redis-py's asyncio client does not run on trio: each async step fails and the call
    limits itself locally (one warning), as before the turns, which are asyncio locks."""
    limiter = bind(redis_server.url, retry_interval=60)

    async def book_twice() -> list[Any]:
        return [await limiter.areserve(), await limiter.areserve()]

    tickets = anyio.run(book_twice, backend="trio")
    assert not any(ticket.shared for ticket in tickets)
    assert len(redis_warnings(caplog.records, "failed")) == 1
    limiter.close()


def test_a_write_another_client_beat_is_answered_with_the_state_it_wrote(
    shared: Shared, caplog: pytest.LogCaptureFixture
) -> None:
    """Another client writes between each read and write (a real write, on the real Redis):
    each lost write costs one round trip, not two; after `CAS_ATTEMPTS` of them this call
    limits itself locally, with no warning and no outage (Redis answered all along): the next
    call books on Redis again."""
    limiter, inspect = bind(shared), shared.inspect
    limiter.reserve()
    key = state_key(inspect)
    counted = Counted(limiter)

    def another_client_writes(args: list[Any]) -> None:
        if args[0] == "write":
            inspect.hincrby(key, "version", 1)  # another client's write, just before ours

    counted.before = another_client_writes
    caplog.set_level(logging.DEBUG, logger="cortexio_sdk")
    ticket = limiter.reserve()
    assert not ticket.shared
    assert counted.ops == ["read"] + ["write"] * 16  # each lost write brought the state back
    counted.before = None
    assert limiter.reserve().shared  # no outage: nothing waits for a probe
    limiter.close()
    assert redis_warnings(caplog.records, "") == []
    messages = [r.getMessage() for r in caplog.records]
    (debug,) = [message for message in messages if "wrote the shared limit" in message]
    assert "this call limited itself alone" in debug


# -- on a Redis Cluster: where the bucket lives --------------------------------------------------


@pytest.mark.parametrize("shared", ["cluster"], indirect=True)
@pytest.mark.parametrize("prefix", ["cortexio-sdk:rate-limit", "payments:limits"])
def test_each_bucket_lives_on_one_node_and_buckets_spread(shared: Shared, prefix: str) -> None:
    """The digest in braces is the keys' hash tag: a bucket's state and its clients share one
    slot, whatever the prefix, so the script can run on the node holding it; the buckets of
    different keys land on different nodes."""
    homes = set()
    for n in range(12):
        limiter = bind(shared, api_key=f"{API_KEY}-{n}", prefix=prefix)
        assert limiter.reserve().shared
        key = limiter.key
        assert key.startswith(prefix + ":{")
        slot = shared.inspect.cluster_keyslot(key)  # as the cluster computes it
        assert shared.inspect.cluster_keyslot(key + ":clients") == slot
        home = shared.server_of(key)
        with redis.Redis.from_url(home.url) as node:
            assert node.exists(key, key + ":clients") == 2
        homes.add(home.port)
        limiter.close()
    assert len(shared.names()) == 24  # nothing else, anywhere
    assert len(homes) == 3


@pytest.mark.parametrize("shared", ["cluster"], indirect=True)
def test_the_script_runs_on_the_node_of_the_key_s_slot_alone(shared: Shared) -> None:
    """Every command each node received (MONITOR) while a client books, holds off and books:
    the script with its two keys went to the node holding them, and no key to another node."""
    monitors = {node.port: Monitor(node.port) for node in shared.servers}
    limiter = bind(shared)
    limiter.reserve()
    limiter.hold_off(0.01)
    limiter.reserve()
    limiter.close()
    seen = {port: monitor.stop() for port, monitor in monitors.items()}
    home = shared.server_of(limiter.key).port
    steps = re.findall(r'"EVALSHA" "[0-9a-f]{40}" "2" "([^"]+)" "([^"]+)"', seen[home])
    assert steps.count((limiter.key, limiter.key + ":clients")) >= 3
    assert all(limiter.key not in text for port, text in seen.items() if port != home)


@pytest.mark.parametrize("shared", ["cluster"], indirect=True)
@pytest.mark.parametrize("kind", ["sync", "async"])
async def test_a_silent_cluster_node_costs_one_timeout_not_two(
    kind: Kind, shared: Shared, caplog: pytest.LogCaptureFixture
) -> None:
    """The node holding the key stops answering: its step gives up after `timeout` once, and is
    not retried after the client reads the cluster's layout again (redis-py would: once more in
    8.1, three times more in 5.2.1)."""
    limiter = bind(shared, timeout=0.3, retry_interval=60)
    try:
        assert (await book(kind, limiter)).shared  # connected, the layout known
        node = shared.server_of(limiter.key)
        node.pause()
        try:
            started = time.monotonic()
            ticket = await book(kind, limiter)
            elapsed = time.monotonic() - started
        finally:
            node.resume()
        assert not ticket.shared
        assert 0.25 <= elapsed < 0.5
        # (One slow step just after an answer: no outage, test_one_slow_step_...)
        assert redis_warnings(caplog.records, "failed") == []
    finally:
        await limiter.aclose()


def test_cluster_mode_against_a_server_that_is_not_a_cluster_falls_back_and_says_so(
    redis_server: RedisServer, caplog: pytest.LogCaptureFixture
) -> None:
    limiter = bind(redis_server.url, cluster=True)
    assert not limiter.reserve().shared
    (warning,) = redis_warnings(caplog.records, "failed")
    assert "Cluster mode is not enabled" in warning
    limiter.close()


@pytest.mark.parametrize("shared", ["cluster"], indirect=True)
def test_a_cluster_node_named_without_cluster_mode_falls_back_where_the_slot_is_elsewhere(
    shared: Shared, caplog: pytest.LogCaptureFixture
) -> None:
    named = shared.servers[0]
    limiters = (bind(shared.url, api_key=f"{API_KEY}-{n}") for n in range(12))
    limiter = next(each for each in limiters if shared.server_of(each.key) is not named)
    assert not limiter.reserve().shared
    (warning,) = redis_warnings(caplog.records, "failed")
    assert "MOVED" in warning.upper()  # MovedError in redis-py 8, ResponseError: MOVED in 5
    limiter.close()


# -- through the clients: the key, the environment, failures ------------------------------------


def test_the_api_key_never_reaches_redis(
    redis_server: RedisServer, inspect: redis.Redis, caplog: pytest.LogCaptureFixture
) -> None:
    """Every command Redis received (MONITOR), every key and every value, after traffic that
    includes 429s and hold-offs from a sync and an async client."""
    monitor = Monitor(redis_server.port)
    limiter = RedisLimiter(url=redis_server.url)
    with FakeCortex(api_key=API_KEY, rate_limit=5, burst=2, job_seconds=60) as fake:
        with Cortex(api_key=API_KEY, base_url=fake.base_url, rate_limiter=limiter) as client:
            job = client.queries.run("tag = 'payments'")
            for _ in range(6):
                client.queries.get(job.job_id)

        async def async_calls() -> None:
            async with AsyncCortex(
                api_key=API_KEY, base_url=fake.base_url, rate_limiter=limiter
            ) as aclient:
                for _ in range(6):
                    await aclient.queries.get(job.job_id)

        anyio.run(async_calls)
        assert fake.counters.rate_limited >= 1  # the hold-off path ran too
    seen = monitor.stop()
    assert "EVALSHA" in seen.upper() or "EVAL" in seen.upper()  # the monitor saw the traffic
    assert key_free(seen)
    names = inspect.keys("*")
    assert names
    assert all(KEY_NAME.fullmatch(name) for name in names)
    for name in names:
        assert key_free(name)
        if name.endswith(":clients"):
            members = inspect.zrange(name, 0, -1)
            assert len(members) == 2  # the sync client and the async one
            assert all(re.fullmatch(r"[0-9a-f]{16}", member) for member in members)
        else:
            assert key_free(repr(inspect.hgetall(name)))
    assert all(key_free(r.getMessage()) for r in caplog.records)


def test_the_environment_variable_shares_the_limit(
    shared: Shared, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CORTEX_RATE_LIMIT_REDIS_URL", shared.url)
    if shared.cluster:
        monkeypatch.setenv("CORTEX_RATE_LIMIT_REDIS_CLUSTER", "1")
    with FakeCortex(api_key=API_KEY) as fake, fake.client() as client:
        client.queries.run("tag = 'payments'")
    assert KEY_NAME.fullmatch(state_key(shared.inspect))


def test_the_command_line_shares_the_limit_through_the_environment(
    redis_server: RedisServer, inspect: redis.Redis
) -> None:
    with FakeCortex(api_key=API_KEY, job_seconds=60) as fake:
        job = fake.client().queries.run("tag = 'payments'")
        env = {**os.environ, **fake.env, "CORTEX_RATE_LIMIT_REDIS_URL": redis_server.url}
        command = [sys.executable, "-m", "cortexio_sdk.cli", "get", job.job_id, "--format", "json"]
        done = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
        assert done.returncode == 0, done.stderr
        assert job.job_id in done.stdout
        assert KEY_NAME.fullmatch(state_key(inspect))
        env["CORTEX_RATE_LIMIT_REDIS_URL"] = "localhost:6379"  # no scheme
        refused = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    assert refused.returncode == 2
    assert "CORTEX_RATE_LIMIT_REDIS_URL" in refused.stderr


@pytest.mark.parametrize("kind", ["sync", "async"])
async def test_redis_down_falls_back_warns_once_and_recovers(
    kind: Kind, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="cortexio_sdk")
    port = closed_port()  # nothing listens there yet
    limiter = RedisLimiter(url=f"redis://127.0.0.1:{port}/0", retry_interval=0.2)
    with FakeCortex(api_key=API_KEY, job_seconds=60) as fake:
        api = Api(kind, api_key=API_KEY, base_url=fake.base_url, rate_limiter=limiter)
        try:
            job = await api.run("tag = 'payments'")
            for _ in range(5):
                await api.get(job.job_id)
            assert len(redis_warnings(caplog.records, "failed")) == 1
            with RedisServer(port=port) as server:
                inspect = redis.Redis.from_url(server.url)
                deadline = time.monotonic() + 10
                while not inspect.keys("*"):  # the next probe finds Redis back
                    assert time.monotonic() < deadline, "the limit never went back to Redis"
                    await api.get(job.job_id)
                    await anyio.sleep(0.05)
                inspect.close()
        finally:
            await api.close()
    assert len(redis_warnings(caplog.records, "failed")) == 1
    assert len(redis_back(caplog.records)) == 1


@pytest.mark.parametrize("cluster", [False, True], ids=["server", "cluster"])
@pytest.mark.parametrize("kind", ["sync", "async"])
async def test_a_silent_redis_costs_one_bounded_wait(
    kind: Kind, cluster: bool, caplog: pytest.LogCaptureFixture
) -> None:
    """A Redis that accepts connections and never answers: each step gives up after `timeout`,
    then the client limits itself alone until `retry_interval` has passed. With `cluster`, it
    is the node the client would read the cluster's layout from."""
    with silent_redis() as url:
        limiter = RedisLimiter(url=url, timeout=0.2, retry_interval=60, cluster=cluster)
        with FakeCortex(api_key=API_KEY, job_seconds=60) as fake:
            # Told a high limit: the fallback's own pacing is not what this measures.
            api = Api(
                kind,
                api_key=API_KEY,
                base_url=fake.base_url,
                rate_limiter=limiter,
                requests_per_minute=60_000,
            )
            try:
                started = time.monotonic()
                job = await api.run("tag = 'payments'")
                first = time.monotonic() - started
                started = time.monotonic()
                for _ in range(5):
                    await api.get(job.job_id)
                rest = time.monotonic() - started
            finally:
                await api.close()
    assert first < 2.0  # a few steps of 0.2 s at most, never the call's 300 s deadline
    assert rest < first + 1.0  # no further wait: the fallback decides until the next probe
    assert len(redis_warnings(caplog.records, "failed")) == 1


async def test_a_cancelled_probe_leaves_the_next_caller_free_to_probe(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The one caller allowed to ask a failed Redis whether it is back is cancelled mid-step:
    the next caller after `retry_interval` must ask again, not limit locally for ever."""
    with silent_redis() as url:
        limiter = RedisLimiter(url=url, timeout=0.3, retry_interval=0.01).bind(
            api_key=API_KEY, origin=ORIGIN, requests_per_minute=600
        )
        try:
            await limiter.areserve()  # times out: the outage begins
            await anyio.sleep(0.02)
            with anyio.move_on_after(0.05):
                await limiter.areserve()  # the probe, cancelled while Redis stays silent
            await anyio.sleep(0.02)
            started = time.monotonic()
            ticket = await limiter.areserve()  # probes again: waits for Redis's timeout
            assert time.monotonic() - started >= 0.25
            assert not ticket.shared
        finally:
            await limiter.aclose()
    assert len(redis_warnings(caplog.records, "failed")) == 1


def test_one_slow_step_while_redis_answers_is_no_outage(
    redis_server: RedisServer, caplog: pytest.LogCaptureFixture
) -> None:
    """A step that times out just after Redis answered: that caller limits itself alone, and
    nobody else does; no warning, no fallback to a share, the next step is shared again."""
    proxy = StallingProxy(redis_server.url)
    limiter = bind(proxy.url, timeout=0.2, retry_interval=60)
    try:
        assert limiter.reserve().shared
        proxy.stall(0.4)
        started = time.monotonic()
        slow = limiter.reserve()
        assert not slow.shared
        assert 0.2 <= time.monotonic() - started < 1.0  # one `timeout`, then locally
        time.sleep(0.4)  # the stall ends
        assert limiter.reserve().shared  # not down: nobody waited for a probe
    finally:
        limiter.close()
        proxy.close()
    assert redis_warnings(caplog.records, "failed") == []
    assert redis_back(caplog.records) == []


def test_a_redis_slow_for_longer_than_the_grace_is_an_outage_warned_once(
    redis_server: RedisServer, caplog: pytest.LogCaptureFixture
) -> None:
    proxy = StallingProxy(redis_server.url)
    limiter = bind(proxy.url, timeout=0.2, retry_interval=60)
    try:
        assert limiter.reserve().shared
        proxy.stall(60)
        tickets = [limiter.reserve() for _ in range(12)]  # 2.4 s of timeouts, then local ones
        assert not any(ticket.shared for ticket in tickets)
    finally:
        limiter.close()
        proxy.close()
    (warning,) = redis_warnings(caplog.records, "failed")
    assert "Timeout" in warning


def test_state_that_is_not_ours_falls_back_instead_of_failing_calls(
    redis_server: RedisServer, inspect: redis.Redis, caplog: pytest.LogCaptureFixture
) -> None:
    limiter = RedisLimiter(url=redis_server.url, retry_interval=60)
    with (
        FakeCortex(api_key=API_KEY, job_seconds=60) as fake,
        Cortex(api_key=API_KEY, base_url=fake.base_url, rate_limiter=limiter) as client,
    ):
        job = client.queries.run("tag = 'payments'")
        inspect.set(state_key(inspect), "something else's string")  # WRONGTYPE for the script
        for _ in range(5):
            client.queries.get(job.job_id)
    (warning,) = redis_warnings(caplog.records, "failed")
    assert "WRONGTYPE" in warning


def test_any_error_out_of_the_redis_client_means_limiting_locally(
    redis_server: RedisServer, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Not only Redis's own errors: redis-py lets a RuntimeError out when its event loop is gone."""
    limiter = bind(redis_server.url)

    def broken(**_: Any) -> None:
        raise RuntimeError("Event loop is closed")

    monkeypatch.setattr(limiter, "_sync_script", broken)
    ticket = limiter.reserve()
    assert not ticket.shared
    assert ticket.wait == 0.0
    (warning,) = redis_warnings(caplog.records, "failed")
    assert "RuntimeError: Event loop is closed" in warning
    limiter.close()


def test_the_password_is_not_in_the_outage_warning(caplog: pytest.LogCaptureFixture) -> None:
    url = f"redis://user:s3cr3t-pw@127.0.0.1:{closed_port()}/0"
    with FakeCortex(api_key=API_KEY) as fake:
        limiter = RedisLimiter(url=url)
        with Cortex(api_key=API_KEY, base_url=fake.base_url, rate_limiter=limiter) as client:
            client.queries.run("tag = 'payments'")
    (warning,) = redis_warnings(caplog.records, "failed")
    assert "s3cr3t-pw" not in warning
    assert "user:***@127.0.0.1" in warning


# -- a fleet under a server's limit -------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["sync", "async"])
async def test_killing_redis_mid_run_fails_no_call_and_warns_once(
    kind: Kind, shared: Shared, caplog: pytest.LogCaptureFixture
) -> None:
    """8 workers on one client against a 10 req/s server: Redis is killed while they run, then
    restarted. No call fails, one warning for the outage, one line (INFO) when Redis is back.
    In a cluster, the node holding the key is killed; restarted, it rejoins with its slots."""
    caplog.set_level(logging.INFO, logger="cortexio_sdk")
    limiter = shared.limiter(retry_interval=0.5)
    with FakeCortex(api_key=API_KEY, job_seconds=3600, rate_limit=10) as fake:
        api = Api(
            kind,
            api_key=API_KEY,
            base_url=fake.base_url,
            rate_limiter=limiter,
            requests_per_minute=600,
        )
        job = await api.run("tag = 'payments'")
        done: list[int] = [0]
        errors: list[BaseException] = []
        stop = threading.Event()

        async def worker() -> None:
            while not stop.is_set():
                try:
                    await api.get(job.job_id)
                except CortexError as exc:  # pragma: no cover - the assertion below shows it
                    errors.append(exc)
                done[0] += 1

        async def after(calls: int, what: str) -> None:
            target = done[0] + calls
            deadline = time.monotonic() + 30
            while done[0] < target:
                assert time.monotonic() < deadline, f"stalled: {what}"
                await anyio.sleep(0.05)

        async def scenario() -> None:
            await after(15, "with Redis")
            victim = shared.server_of(state_key(shared.inspect))  # the limit was shared
            victim.kill()
            await after(20, "after the kill")
            victim.restart()
            deadline = time.monotonic() + 15
            while not shared.names():
                assert time.monotonic() < deadline, "the limit never went back to Redis"
                await anyio.sleep(0.05)
            await after(15, "after the restart")
            stop.set()

        try:
            if kind == "sync":
                assert isinstance(api.client, Cortex)
                client = api.client

                def sync_worker() -> None:
                    while not stop.is_set():
                        try:
                            client.queries.get(job.job_id)
                        except CortexError as exc:  # pragma: no cover
                            errors.append(exc)
                        done[0] += 1

                threads = [threading.Thread(target=sync_worker) for _ in range(8)]
                for thread in threads:
                    thread.start()
                try:
                    await scenario()
                finally:
                    stop.set()
                    for thread in threads:
                        thread.join(30)
            else:
                async with anyio.create_task_group() as group:
                    for _ in range(8):
                        group.start_soon(worker)
                    await scenario()
        finally:
            stop.set()
            await api.close()
    assert errors == []
    assert len(redis_warnings(caplog.records, "failed")) == 1
    assert len(redis_back(caplog.records)) == 1


@pytest.mark.slow
def test_a_fleet_sharing_redis_stays_under_the_limit_that_separate_limiters_exceed(
    redis_server: RedisServer,
) -> None:
    """4 clients (standing for 4 processes) x 4 threads, one key, a 10 req/s server, each
    client told the key's limit: alone, each sends its 10/s and the fleet meets 429s; through
    Redis they share 10/s; when Redis dies, each keeps to a quarter and no call fails."""

    def run(rate_limiter: RedisLimiter | None, *, kill: bool = False) -> tuple[float, float]:
        """Goodput and 429 share of 6 s of traffic (with `kill`: of the 5 s after the kill)."""
        errors: list[CortexError] = []
        with FakeCortex(api_key=API_KEY, job_seconds=3600, rate_limit=10) as fake:
            clients = [
                Cortex(
                    api_key=API_KEY,
                    base_url=fake.base_url,
                    requests_per_minute=600,
                    rate_limiter=rate_limiter,
                )
                for _ in range(4)
            ]
            job = clients[0].queries.run("tag = 'payments'")
            stop = threading.Event()
            successes = [0]

            def worker(client: Cortex) -> None:
                while not stop.is_set():
                    try:
                        client.queries.get(job.job_id)
                    except CortexError as exc:  # pragma: no cover - asserted below
                        errors.append(exc)
                    successes[0] += 1

            threads = [threading.Thread(target=worker, args=(c,)) for c in clients * 4]
            for thread in threads:
                thread.start()
            if kill:
                deadline = time.monotonic() + 30
                while successes[0] < 30:  # every client has booked through Redis by now
                    assert time.monotonic() < deadline, "the fleet made no progress"
                    time.sleep(0.05)
                redis_server.kill()
            fake.reset_counters()
            counted_from = successes[0]
            seconds = 5 if kill else 6
            stop.wait(seconds)
            counted = successes[0] - counted_from
            counters = fake.counters
            stop.set()
            for thread in threads:
                thread.join()
            for client in clients:
                client.close()
        assert errors == []
        attempts = sum(counters.responses_by_status.values())
        return counted / seconds / 10, counters.rate_limited / attempts

    shared_goodput, shared_429 = run(RedisLimiter(url=redis_server.url))
    _, alone_429 = run(None)
    assert shared_goodput >= 0.8
    assert shared_429 <= 0.1
    # Each alone learns the server's limit too, but only after meeting 429s the fleet sharing
    # Redis does not meet (measured: about 13 % alone, none shared).
    assert alone_429 >= max(0.05, 3 * shared_429)
    fallback_goodput, fallback_429 = run(RedisLimiter(url=redis_server.url), kill=True)
    assert fallback_goodput >= 0.6
    assert fallback_429 <= max(0.1, alone_429 / 3)


class Monitor:
    """Everything Redis receives while it runs (the MONITOR command), as text."""

    def __init__(self, port: int) -> None:
        self._conn = socket.create_connection(("127.0.0.1", port), timeout=0.2)
        self._conn.sendall(b"MONITOR\r\n")
        self._chunks: list[bytes] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._read)
        self._thread.start()

    def _read(self) -> None:
        while not self._stop.is_set():
            try:
                chunk = self._conn.recv(1 << 16)
            except TimeoutError:
                continue
            if not chunk:
                return
            self._chunks.append(chunk)

    def stop(self) -> str:
        """Send a marker on another connection and read until it arrives: then every earlier
        command has arrived too."""
        marker = b"end-of-monitored-traffic"
        with socket.create_connection(self._conn.getpeername(), timeout=5) as other:
            other.sendall(b"ECHO " + marker + b"\r\n")
            other.recv(64)
        deadline = time.monotonic() + 10
        while marker not in b"".join(self._chunks):
            assert time.monotonic() < deadline, "MONITOR never showed the marker"
            time.sleep(0.01)
        self._stop.set()
        self._thread.join()
        self._conn.close()
        return b"".join(self._chunks).decode("utf-8", "replace")
