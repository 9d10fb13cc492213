"""`RedisBucket`: the limiter of a client given a `RedisLimiter`: one bucket per key, in Redis.

Why not `limits`: it offers fixed and moving windows at a fixed rate, to test or hit; the SDK
needs a slot booked ahead with the time to wait for it, a hold-off that voids the slots booked
before it, and a limit learnt from 429s. That is `_limiter.Learner`, the same Python code the
in-process limiter runs, here on state kept in Redis: each step reads the state with Redis's
clock (so hosts whose clocks disagree still share one schedule), decides in Python, and writes
the state back only if no other client wrote it meanwhile; a write that finds another client's
answers with the state as it now is, and the step decides again (`_redis_bucket.lua` does the
read and the compare-and-set, atomically). One copy of the arithmetic, at the price of two round
trips for a step that changes the state. A client's threads take turns, and so do its tasks (in
each event loop), so that they do not void each other's reads; a step that lost to other
clients `CAS_ATTEMPTS` times in a row (a host so loaded that its read and its write lie far
apart) limits that one call locally: Redis answered, so it is no outage.

Redis is a helper, never a reason for a call to fail: each step is bounded by the settings'
`timeout` (a broken pooled connection is retried once, a timeout never); when Redis fails the
client falls back to its in-process limiter (one warning per outage), set to its share of the
rate the fleet last had (Redis counts the clients that booked lately) on its own slots of the
schedule the fleet shared (`_Fleet.phase`), lets one caller ask Redis again every
`retry_interval`, and logs when it is back. A step that times out within
`SLOW_STEP_GRACE` s (and twice `timeout`) of Redis's last answer is a slow step, not an outage:
that caller alone limits itself locally, and the next step asks Redis. The Redis keys are a
digest (see `RedisLimiter.bind`); the API key never reaches Redis.

With `cluster=True` the same script runs through redis-py's cluster clients: its two keys share
a hash tag, so it runs on the one node that holds the key's slot.
"""

from __future__ import annotations

import asyncio
import functools
import importlib.resources
import logging
import math
import secrets
import threading
import time
import weakref
from collections.abc import Awaitable, Callable, Generator
from typing import TYPE_CHECKING, Any, NamedTuple

import anyio
import redis
import redis.asyncio
import redis.asyncio.cluster
import redis.cluster
from redis.asyncio.retry import Retry as AsyncRetry
from redis.backoff import NoBackoff
from redis.retry import Retry

from .._exceptions import ConfigurationError
from .._telemetry._records import limiter_fell_back
from ._limiter import Learner, RateLimiter, Ticket, learning, log_learning
from ._redact import redacted

if TYPE_CHECKING:
    from redis.commands.core import AsyncScript, Script

    from ._redis_limiter import RedisLimiter

__all__ = ["RedisBucket"]

logger = logging.getLogger("cortexio_sdk")

# Idle state expires after this long (plus any hold-off or booking still ahead).
STATE_TTL_MS = 10 * 60 * 1000
# A longer wait is no answer the script gives: the reply is corrupt, so the step failed.
_MAX_WAIT = 3600.0
# A client that booked within this many seconds counts as sharing the key (for the fallback).
ACTIVE_SECONDS = 10
# A step that timed out within this long (plus twice the step's `timeout`) of Redis's last answer
# to this client is a slow step, not an outage: that caller alone limits itself locally.
SLOW_STEP_GRACE = 1.0
# Reads and writes of one step before it gives up (another client wrote in between each time).
CAS_ATTEMPTS = 16
# What a failed step may raise: Redis's errors, socket errors and timeouts, a reply that cannot
# be read, and whatever else redis-py lets out (a RuntimeError from an event loop it no longer
# has, for one). Any of them means "limit in this process", never a failed call; cancellation
# (a BaseException) still goes through.
_FAILURES = Exception


class RedisBucket:
    """A client's `Limiter` on Redis, falling back to `self.local` while Redis fails.

    Successes are counted here and reported with the next Redis step, so a success costs no I/O;
    booking a slot costs one round trip, and confirming a slot slept on one more.
    """

    kind = "redis"

    def __init__(
        self,
        config: RedisLimiter,
        *,
        key: str,
        requests_per_minute: float,
        told: bool = False,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """`clock`: this process's seconds, for the fallback and its retries (Redis's own clock
        times the shared schedule; a fake one in the simulator)."""
        self.config = config
        self._clock = clock
        self.key = key
        self._keys = [key, f"{key}:clients"]
        self._id = secrets.token_hex(8)  # names this client among those sharing the key
        self.local = RateLimiter(requests_per_minute, told=told, clock=clock)
        self.local.logs = False  # (the shared learner says what it learns, until an outage)
        self._max_rate = self.local.max_rate
        self._told = told
        self._lock = threading.Lock()
        self._successes = 0  # not yet reported to Redis
        self._down = False  # in an outage: the local limiter decides
        self._probing = False  # one caller is asking Redis whether it is back
        self._retry_at = 0.0
        self._answered_at = -math.inf  # when Redis last answered a step (never yet)
        self._turn = threading.Lock()  # one step on Redis at a time, for this client's threads
        self._aturns: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Lock] = (
            weakref.WeakKeyDictionary()
        )
        self._fleet: _Fleet | None = None  # the shared schedule, as last read
        # A step waits for a pooled connection, connects and reads, each within `timeout`; the
        # async twins also enforce the sum themselves, whatever the redis-py version does.
        self._step_bound = 3 * config.timeout
        options: dict[str, Any] = {
            "max_connections": config.max_connections,
            "timeout": config.timeout,  # waiting for a pooled connection
            "socket_timeout": config.timeout,
            "socket_connect_timeout": config.timeout,
        }
        # One immediate retry, on a broken connection only: a pooled connection to a Redis that
        # restarted is dead, and a new one answers. A timeout is never retried, so a step that
        # fails costs `timeout`, not a multiple of it, before the fallback takes over.
        broken = (redis.ConnectionError,)
        self._sync: redis.Redis | _SyncCluster
        self._async: redis.asyncio.Redis | redis.asyncio.cluster.RedisCluster
        self._sync_script: Callable[..., Any]
        self._async_script: Callable[..., Awaitable[Any]]
        try:
            if config.cluster:
                self._connect_cluster(options)
            else:
                sync_pool = redis.BlockingConnectionPool.from_url(
                    config.url, retry=Retry(NoBackoff(), 1, broken), **options
                )
                async_pool = redis.asyncio.BlockingConnectionPool.from_url(
                    config.url, retry=AsyncRetry(NoBackoff(), 1, broken), **options
                )
                self._sync = redis.Redis(connection_pool=sync_pool)
                self._async = redis.asyncio.Redis(connection_pool=async_pool)
                self._sync_script = self._sync.register_script(_script())
                self._async_script = self._async.register_script(_script())
        except ValueError as exc:
            raise ConfigurationError(
                f"RedisLimiter url {redacted(config.url)!r} is not valid: {exc}"
            ) from None

    def _connect_cluster(self, options: dict[str, Any]) -> None:
        """redis-py's cluster clients, with the single server's bounds: the same timeouts and
        pool size (per node), one immediate retry on a broken connection, a timeout never."""
        config = self.config
        options = {key: value for key, value in options.items() if key != "timeout"}
        broken = (redis.ConnectionError,)
        # redis-py's sync cluster client has no pool wait of its own: a pool class that has one.
        pool = functools.partial(redis.BlockingConnectionPool, timeout=config.timeout)

        def connect() -> redis.cluster.RedisCluster:
            return _SyncRedisCluster.from_url(
                config.url,
                connection_pool_class=pool,
                retry=Retry(NoBackoff(), 1, broken),
                **options,
            )

        self._sync = _SyncCluster(connect, config.timeout)
        self._sync_script = self._sync
        # Reads the URL now (a bad one is a ConfigurationError); connects at its first command.
        self._async = _AsyncRedisCluster.from_url(
            config.url,
            retry=AsyncRetry(NoBackoff(), 1, broken),
            retry_on_error=list(broken),
            **options,
        )
        self._async_script = _Queued(
            self._async.register_script(_script()), config.max_connections, config.timeout
        )

    @property
    def rate(self) -> float:
        """Requests/s: the shared rate last read from Redis, or this process's own in an outage."""
        with self._lock:
            fleet, down = self._fleet, self._down
        return self.local.rate if down or fleet is None else fleet.rate

    def __repr__(self) -> str:
        return f"RedisBucket(url={redacted(self.config.url)!r}, key={self.key!r})"

    # -- the Limiter protocol: a sync and an async driver around the same steps ----------------

    def reserve(self, previous: Ticket | None = None) -> Ticket:
        ticket = self._step(previous, None) if _on_redis(previous) else None
        return ticket if ticket is not None else self.local.reserve(_local(previous))

    async def areserve(self, previous: Ticket | None = None) -> Ticket:
        ticket = await self._astep(previous, None) if _on_redis(previous) else None
        return ticket if ticket is not None else self.local.reserve(_local(previous))

    def hold_off(self, seconds: float) -> None:
        self.local.hold_off(seconds)  # this process at once, whatever Redis does
        self._step(None, seconds)

    async def ahold_off(self, seconds: float) -> None:
        self.local.hold_off(seconds)
        await self._astep(None, seconds)

    def succeeded(self) -> None:
        self.local.succeeded()
        with self._lock:
            self._successes += 1

    def close(self) -> None:
        self._sync.close()

    async def aclose(self) -> None:
        await self._async.aclose()
        self._sync.close()

    # -- one Redis step, sync and async: None when it was not sent or failed ------------------
    #
    # A client's threads take turns (and its tasks, per event loop): steps sent at once by one
    # process would only contend with each other (each write voids the others' reads), and on
    # a loaded host, where a step's read and write lie far apart, 32 threads in 4 processes so
    # failed 16 times in a row. A caller that waits longer than a step may take leaves its step
    # to the local limiter (a hold-off then reaches this process alone).

    def _step(self, previous: Ticket | None, hold: float | None) -> Ticket | None:
        if self._waits_for_probe():
            return None
        if not self._turn.acquire(timeout=self._step_bound):
            self._waited_too_long()
            return None
        try:
            return self._run(self._begin(previous, hold))
        finally:
            self._turn.release()

    def _run(self, step: tuple[bool, _Steps] | None) -> Ticket | None:
        if step is None:
            return None
        probe, steps = step
        try:
            args = next(steps)
            while True:
                args = steps.send(self._sync_script(keys=self._keys, args=args))
        except StopIteration as done:
            ticket: Ticket | None = done.value
        except _FAILURES as exc:
            self._failed(exc, probe)
            return None
        except BaseException:
            self._abandoned(probe)  # Ctrl-C: the next caller may probe
            raise
        self._answered(probe)
        return ticket

    async def _astep(self, previous: Ticket | None, hold: float | None) -> Ticket | None:
        if self._waits_for_probe():
            return None
        try:
            turn = self._aturn()
        except RuntimeError:  # not on asyncio (trio): redis-py's asyncio client fails there,
            return await self._arun(self._begin(previous, hold))  # and the step falls back
        try:
            with anyio.fail_after(self._step_bound):
                await turn.acquire()
        except TimeoutError:
            self._waited_too_long()
            return None
        try:
            return await self._arun(self._begin(previous, hold))
        finally:
            turn.release()

    async def _arun(self, step: tuple[bool, _Steps] | None) -> Ticket | None:
        if step is None:
            return None
        probe, steps = step
        try:
            with anyio.fail_after(self._step_bound):
                args = next(steps)
                while True:
                    args = steps.send(await self._async_script(keys=self._keys, args=args))
        except StopIteration as done:
            ticket: Ticket | None = done.value
        except _FAILURES as exc:
            self._failed(exc, probe)
            return None
        except BaseException:
            self._abandoned(probe)  # the task was cancelled: the next caller may probe
            raise
        self._answered(probe)
        return ticket

    def _aturn(self) -> asyncio.Lock:
        """The async callers' turn, one per event loop (an asyncio.Lock serves one loop)."""
        loop = asyncio.get_running_loop()
        with self._lock:
            turn = self._aturns.get(loop)
            if turn is None:
                turn = self._aturns[loop] = asyncio.Lock()
        return turn

    # -- what both drivers decide the same way -------------------------------------------------

    def _waits_for_probe(self) -> bool:
        """In an outage, and not this caller's to probe now: no need to queue for a turn."""
        with self._lock:
            return self._left_local()

    def _left_local(self) -> bool:
        """(Under `_lock`.) Redis is down and it is not yet time to ask again, or another
        caller is asking."""
        return self._down and (self._probing or self._clock() < self._retry_at)

    def _waited_too_long(self) -> None:
        logger.debug(
            "rate limit: this process's other steps on Redis at %s took longer than %g s; "
            "this step was left to the process's own limiter",
            redacted(self.config.url),
            self._step_bound,
        )

    def _begin(self, previous: Ticket | None, hold: float | None) -> tuple[bool, _Steps] | None:
        """None: leave it to the local limiter (Redis is down). Else whether this step is the
        outage's probe, and the step: book (or confirm `previous`), or hold off `hold` s."""
        with self._lock:
            if self._left_local():
                return None
            probe = self._down  # and due: this caller asks whether Redis is back
            if probe:
                self._probing = True
            successes, self._successes = self._successes, 0
        return probe, self._steps(previous, hold, successes)

    def _steps(self, previous: Ticket | None, hold: float | None, successes: int) -> _Steps:
        """The script calls of one step: yields each call's arguments, is sent its reply, and
        returns the ticket (None for a hold-off). Read, decide, write if nobody wrote since;
        a write that finds another client's answers with the state that client wrote."""
        who = [self._id, ACTIVE_SECONDS]
        reply = yield ["read", *who, STATE_TTL_MS]
        for _ in range(CAS_ATTEMPTS):
            now, version, clients, place, state = _parse_read(reply)
            offset = self._clock() - now  # this process's clock less Redis's (about)
            learner = Learner.from_state(
                state, self._max_rate, self.local.tuning, now, told=self._told
            )
            changed = successes > 0 or not state
            before, reading = learner.rate, None
            if successes:
                learner.passed(now, successes)
            ticket = None
            if hold is not None:
                # (Each other client may hold one success it has not reported yet.)
                reading = learner.limited(now, hold, unseen=max(0, clients - 1))
                changed = True
            else:
                wait, at, booked = learner.reserve(now, previous, shared=True)
                changed = changed or booked
                ticket = Ticket(wait, learner.epoch, shared=True, at=at)
            if ticket is not None and not 0.0 <= ticket.wait <= _MAX_WAIT:
                raise ValueError(f"the shared limiter's state gives a wait of {ticket.wait!r} s")
            with self._lock:
                self._fleet = _Fleet(learner.rate, clients, place, learner.tat, offset)
            record = learning(before, learner, reading, shared=True)
            if not changed:
                log_learning(record)
                return ticket
            ahead = max(0.0, learner.hold - now, learner.tat - now)
            ttl = STATE_TTL_MS + math.ceil(ahead * 1000)
            fields = [item for pair in learner.to_state().items() for item in pair]
            reply = yield ["write", *who, ttl, version, *fields]
            if reply == 1:
                log_learning(record)  # (once: the step that was written)
                return ticket
        raise _Contended(f"{CAS_ATTEMPTS} other clients wrote the shared limit first in a row")

    def _answered(self, probe: bool) -> None:
        with self._lock:
            self._answered_at = self._clock()
            # Only the probe ends an outage: a step sent before Redis failed may still succeed.
            if not probe:
                return
            self._probing = False
            back, self._down = self._down, False
        if back:
            self.local.logs = False
            logger.info(
                "rate limit: Redis at %s is back; the limit is shared again",
                redacted(self.config.url),
            )

    def _abandoned(self, probe: bool) -> None:
        if probe:
            with self._lock:
                self._probing = False

    def _failed(self, exc: BaseException, probe: bool) -> None:
        if isinstance(exc, _Contended):
            # Redis answered every read and write: busy, not down. This call alone limits
            # itself locally; taken for an outage, it held the whole process to its share.
            self._answered(probe)
            logger.debug(
                "rate limit: %s at %s; this call limited itself alone",
                exc,
                redacted(self.config.url),
            )
            return
        now = self._clock()
        grace = SLOW_STEP_GRACE + 2 * self.config.timeout
        with self._lock:
            if probe:
                self._probing = False
            # One slow step while Redis answers (a loaded host, a pause in Redis) is no outage:
            # taken for one, it warned and held the process to its share alone until the next
            # probe, at every such step.
            slow = not self._down and _timed_out(exc) and now - self._answered_at < grace
            if not slow:
                self._retry_at = now + self.config.retry_interval
                first, self._down = not self._down, True
                fleet = self._fleet
        if slow:
            logger.debug(
                "rate limit: a Redis step at %s timed out (%s); this call limited itself alone",
                redacted(self.config.url),
                type(exc).__name__,
            )
            return
        if first and fleet is not None:
            # Every client sharing the key falls back at once: each keeps to its part of the
            # rate they shared, instead of all sending the key's whole limit, on its own slots.
            self.local.take_share(1.0 / fleet.clients, fleet.rate, phase=fleet.phase(now))
        if first:
            self.local.logs = True
            limiter_fell_back()
            logger.warning(
                "rate limit: Redis at %s failed (%s: %s); this process limits itself alone "
                "until Redis answers (asked every %g s)",
                redacted(self.config.url),
                type(exc).__name__,
                exc,
                self.config.retry_interval,
            )


class _SyncRedisCluster(redis.cluster.RedisCluster):
    # Retried after the cluster's layout is read again: a broken connection, never a timeout
    # (redis-py retries those too, 3 times in 5.2.1, so a silent node cost several `timeout`s).
    ERRORS_ALLOW_RETRY = (redis.ConnectionError,)  # type: ignore[assignment]


class _AsyncRedisCluster(redis.asyncio.cluster.RedisCluster):
    ERRORS_ALLOW_RETRY = (redis.ConnectionError,)  # type: ignore[assignment]


class _SyncCluster:
    """The sync cluster client, made by the first step that needs it: redis-py's reads the
    cluster's layout as it is made, and a cluster that is down then must cost a fallback, not
    the construction of a Cortex client. Called like the script it runs."""

    def __init__(self, connect: Callable[[], redis.cluster.RedisCluster], timeout: float) -> None:
        self._connect = connect
        self._timeout = timeout
        self._lock = threading.Lock()
        self._client: redis.cluster.RedisCluster | None = None
        self._script: Script | None = None

    def __call__(self, *, keys: list[str], args: list[Any]) -> Any:
        script = self._script if self._script is not None else self._connected()
        return script(keys=keys, args=args)

    def _connected(self) -> Script:
        # Callers that arrive meanwhile wait as they would for a pooled connection, no longer.
        if not self._lock.acquire(timeout=self._timeout):
            raise redis.TimeoutError("waited too long for the cluster's layout")
        try:
            if self._script is None:
                client = self._connect()
                self._client, self._script = client, client.register_script(_script())
            return self._script
        finally:
            self._lock.release()

    def close(self) -> None:
        with self._lock:
            client, self._client, self._script = self._client, None, None
        if client is not None:
            client.close()


class _Queued:
    """The async cluster script, run by at most `limit` callers at once: redis-py's async cluster
    client raises MaxConnectionsError past its pool where the single server's pool makes callers
    wait, so they wait here instead, for `timeout` at most."""

    def __init__(self, script: AsyncScript, limit: int, timeout: float) -> None:
        self._script = script
        self._slots = asyncio.Semaphore(limit)
        self._timeout = timeout

    async def __call__(self, *, keys: list[str], args: list[Any]) -> Any:
        with anyio.fail_after(self._timeout):
            await self._slots.acquire()
        try:
            return await self._script(keys=keys, args=args)
        finally:
            self._slots.release()


class _Fleet(NamedTuple):
    """The shared schedule as a step last read it: its rate (requests/s), how many clients
    share the key and this one's place in their order, its next slot on Redis's clock, and
    this process's clock less Redis's, as that step saw them."""

    rate: float
    clients: int
    place: int
    slot: float
    offset: float

    def phase(self, now: float) -> float:
        """Where this client's own next slot lies in the first interval of its share (0 to
        1, from `now`). The fleet's slots, one every 1/rate s, are dealt out in turn: slot
        number n (counting from the clock's origin) is the (n mod clients)-th client's. Each
        keeping to its own, the processes go on sending one request per slot, as they did
        while they shared Redis, even into a bucket that holds one. (Before, each started at
        a random point of its interval: the fleet kept 0.19-0.78 of buckets of one or two
        after Redis went away, simulated.)"""
        interval = 1.0 / self.rate
        number = round(self.slot * self.rate)
        mine = self.slot + ((self.place - number) % self.clients) * interval + self.offset
        phase = ((mine - now) / (self.clients * interval)) % 1.0
        return phase if phase < 1.0 else 0.0  # (a tiny negative rounds to 1.0)


# A step's generator: yields the script's arguments, is sent its replies, returns the ticket.
_Steps = Generator[list[Any], Any, Ticket | None]


class _Contended(RuntimeError):
    """Every attempt of a step found that another client had written first."""


def _on_redis(previous: Ticket | None) -> bool:
    """Whether a step books or confirms on Redis: not a slot booked in this process during an
    outage, which is confirmed where it was booked."""
    return previous is None or previous.shared


def _timed_out(exc: BaseException) -> bool:
    """Whether a failed step ran out of time (Redis slow), rather than found Redis gone or
    broken (refused, reset, a reply it cannot read)."""
    return isinstance(exc, (TimeoutError, redis.TimeoutError))


def _parse_read(reply: Any) -> tuple[float, int, int, int, dict[str, str]]:
    """The read's `{now, version, clients, place, field, value...}`; anything else raises
    ValueError."""
    if not isinstance(reply, list) or len(reply) < 4 or len(reply) % 2 != 0:
        raise ValueError(f"unexpected reply from the limiter script: {reply!r}"[:300])
    now, version, clients, place = float(_text(reply[0])), *reply[1:4]
    numbers = (version, clients, place)
    integers = all(isinstance(n, int) and not isinstance(n, bool) for n in numbers)
    if not (integers and 0 <= place < clients and math.isfinite(now)):
        raise ValueError(f"unexpected reply from the limiter script: {reply[:4]!r}")
    fields = [_text(item) for item in reply[4:]]
    return now, version, clients, place, dict(zip(fields[::2], fields[1::2], strict=True))


def _text(item: Any) -> str:
    if isinstance(item, bytes):
        return item.decode("utf-8")
    if isinstance(item, str):
        return item
    raise ValueError(f"unexpected item in the limiter script's reply: {item!r}")


@functools.cache
def _script() -> str:
    return importlib.resources.files(__package__).joinpath("_redis_bucket.lua").read_text("utf-8")


def _local(previous: Ticket | None) -> Ticket | None:
    """A ticket the local limiter can confirm; not a Redis one (its epochs count Redis's)."""
    return previous if previous is not None and not previous.shared else None
