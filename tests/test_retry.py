"""What is retried, after how long, and how often: timed against a real loopback server.

One case per rule, end to end; the exact arithmetic of every rule (backoff, Retry-After, caps,
deadlines) is checked on a fake clock in test_decisions.py. Timings here have generous bounds (a
retry that should wait 1 s must take at least 0.9 s, and at most 3x its typical time while still
less than the next wrong answer), never exact sleeps. The gap between two requests is read from
the server's own receive times. Every test runs for `Cortex` and `AsyncCortex`.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import math
import os
import re
import signal
import threading
import time
from collections.abc import Callable
from email.utils import formatdate

import httpx
import pytest
from cortexio_sdk import (
    APIConnectionError,
    APITimeoutError,
    AsyncCortex,
    Cortex,
    DeadlineExceededError,
    InternalServerError,
    RateLimitError,
)
from cortexio_sdk._http._retry_after import retry_after_seconds
from harness import API_KEY, IN_PROGRESS, Api, closed_port, error_body, in_order, problem_body
from loopback import LoopbackServer, Reply

pytestmark = pytest.mark.timeout(30)

Connect = Callable[..., Api]

CREATED = {"initiatedAt": "2024-07-29T15:51:28.071Z", "jobId": "job-1", "query": "tag = 'x'"}
OK = Reply(200, IN_PROGRESS)
# The first backoff (no usable advice from the server) is 0.25 to 0.5 s.
SLOW = pytest.mark.slow  # real-time end to end; the rule itself: test_decisions.py
BACKOFF = (0.2, 1.5)  # the first backoff, 0.25-0.5 s, with 3x margin above


def rate_limited(retry_after: str | None = None, body: dict[str, object] | None = None) -> Reply:
    headers = {} if retry_after is None else {"Retry-After": retry_after}
    if body is None:
        return Reply(429, b"", headers=headers, content_type="text/plain")
    return Reply(429, body, headers=headers, content_type="application/problem+json")


def http_date(seconds_from_now: float) -> str:
    return formatdate(time.time() + seconds_from_now, usegmt=True)


def gap(server: LoopbackServer, first: int = 0) -> float:
    """Seconds between the server receiving request `first` and the one after it."""
    return server.requests[first + 1].at - server.requests[first].at


# -- 429: how long to wait ------------------------------------------------------------------
# One case per rule end to end; every odd value is read in the unit tests at the end.


@pytest.mark.parametrize(
    ("reply", "bounds"),
    [
        pytest.param(lambda: rate_limited("1"), (0.9, 3.0), id="seconds"),
        # An HTTP-date has whole seconds: "2 s from now" is between 1 and 2 s away.
        pytest.param(lambda: rate_limited(http_date(2)), (0.9, 4.5), id="http-date", marks=SLOW),
        pytest.param(
            lambda: rate_limited(http_date(-30)), (0.0, 0.15), id="http-date-past", marks=SLOW
        ),
        pytest.param(
            lambda: rate_limited(None, problem_body(1)), (0.9, 3.0), id="body-only", marks=SLOW
        ),
        pytest.param(lambda: rate_limited(None), BACKOFF, id="none"),
        pytest.param(lambda: rate_limited("-3"), BACKOFF, id="negative", marks=SLOW),
        pytest.param(lambda: rate_limited("5s"), BACKOFF, id="garbage-5s", marks=SLOW),
    ],
)
async def test_a_429_is_retried_after_the_advised_delay(
    connect: Connect,
    server: LoopbackServer,
    reply: Callable[[], Reply],
    bounds: tuple[float, float],
) -> None:
    server.handler = in_order(reply, OK)  # the reply is made when the request arrives
    api = connect(max_retries=2, max_retry_after=30)
    started = time.monotonic()
    state = await api.get("job-1")
    elapsed = time.monotonic() - started
    assert state.status == "IN_PROGRESS"
    assert server.count() == 2
    low, high = bounds
    assert low <= gap(server) < high
    assert elapsed < high + 1.0


async def test_the_header_wins_over_the_body(connect: Connect, server: LoopbackServer) -> None:
    # The body alone (120 s) would be over the cap and raise; the header (1 s) is what counts.
    server.handler = in_order(rate_limited("1", problem_body(120)), OK)
    await connect(max_retry_after=5).get("job-1")
    assert server.count() == 2
    assert 0.9 <= gap(server) < 3.0  # 1 s; exact delays are checked in test_decisions.py


@pytest.mark.parametrize(
    ("reply", "advised"),
    [
        pytest.param(lambda: rate_limited("120"), (120, 120), id="seconds"),
        pytest.param(lambda: rate_limited("48051175"), (48051175, 48051175), id="mock-server"),
        pytest.param(
            lambda: rate_limited(None, problem_body(120)), (120, 120), id="body-only", marks=SLOW
        ),
        pytest.param(lambda: rate_limited(http_date(600)), (590, 600), id="http-date", marks=SLOW),
    ],
)
async def test_a_wait_over_the_cap_raises_at_once(
    connect: Connect,
    server: LoopbackServer,
    reply: Callable[[], Reply],
    advised: tuple[float, float],
) -> None:
    server.handler = in_order(reply, OK)  # the reply is made when the request arrives
    api = connect(max_retries=4, max_retry_after=5)
    started = time.monotonic()
    with pytest.raises(RateLimitError) as caught:
        await api.get("job-1")
    elapsed = time.monotonic() - started
    assert elapsed < 0.5  # not slept: neither the advice nor the cap
    assert server.count() == 1
    retry_after = caught.value.retry_after
    assert retry_after is not None
    assert advised[0] <= retry_after <= advised[1]
    assert caught.value.status_code == 429


async def test_429_retries_stop_at_max_retries_without_a_deadline(
    connect: Connect, server: LoopbackServer
) -> None:
    server.handler = lambda _r: rate_limited("0", problem_body(0))
    with pytest.raises(RateLimitError) as caught:
        await connect(max_retries=3, call_timeout=None).get("job-1")
    assert server.count() == 4  # the first try and three retries
    assert caught.value.retry_after == 0


async def test_429s_are_retried_past_max_retries_until_the_deadline(
    connect: Connect, server: LoopbackServer
) -> None:
    # The limiter's own learning meets 429s: they do not use up the call's retries, and the
    # call's deadline still bounds them.
    server.handler = lambda _r: rate_limited("0", problem_body(0))
    started = time.monotonic()
    with pytest.raises((RateLimitError, DeadlineExceededError)):
        await connect(max_retries=1, call_timeout=1.5, requests_per_minute=6000).get("job-1")
    assert server.count() > 2  # max_retries=1 alone would have stopped at 2
    assert time.monotonic() - started < 1.5 * 3


async def test_max_retries_zero_means_one_request(connect: Connect, server: LoopbackServer) -> None:
    server.handler = lambda _r: rate_limited("0")
    with pytest.raises(RateLimitError):
        await connect(max_retries=0).get("job-1")
    assert server.count() == 1


async def test_a_429_is_retried_for_post(connect: Connect, server: LoopbackServer) -> None:
    server.handler = in_order(rate_limited("0", problem_body(0)), Reply(200, CREATED))
    job = await connect().run("tag = 'x'")
    assert job.job_id == "job-1"
    assert server.count("POST") == 2
    assert server.requests[0].body == server.requests[1].body


# -- 5xx and timeouts: GET only -----------------------------------------------------------


@pytest.mark.parametrize("status", [500, 502, 503, 504])
async def test_post_is_not_repeated_after_a_5xx(
    connect: Connect, server: LoopbackServer, status: int
) -> None:
    server.handler = in_order(
        Reply(status, error_body("UNHANDLED_EXCEPTION"), headers={"Retry-After": "0"}),
        Reply(200, CREATED),
    )
    with pytest.raises(InternalServerError) as caught:
        await connect(max_retries=4).run("tag = 'x'")
    assert caught.value.status_code == status
    assert server.count("POST") == 1


@pytest.mark.parametrize("status", [500, 503])
async def test_get_is_retried_after_a_5xx(
    connect: Connect, server: LoopbackServer, status: int
) -> None:
    server.handler = in_order(Reply(status, error_body("UNHANDLED_EXCEPTION")), OK)
    state = await connect(max_retries=4).get("job-1")
    assert state.status == "IN_PROGRESS"
    assert server.count("GET") == 2
    assert BACKOFF[0] <= gap(server) < BACKOFF[1]  # no Retry-After: backoff


async def test_get_is_retried_after_an_html_gateway_page(
    connect: Connect, server: LoopbackServer
) -> None:
    server.handler = in_order(
        Reply(502, "<html>Bad Gateway</html>", content_type="text/html"),
        Reply(520, "<html>Origin error</html>", content_type="text/html"),
        OK,
    )
    await connect(max_retries=4).get("job-1")
    assert server.count("GET") == 3


@pytest.mark.slow  # real-time end to end; the rule itself: test_decisions.py
async def test_5xx_retries_stop_at_max_retries(connect: Connect, server: LoopbackServer) -> None:
    server.handler = lambda _r: Reply(
        503, error_body("UNCATEGORIZED", "down for maintenance"), headers={"Retry-After": "0"}
    )
    with pytest.raises(InternalServerError) as caught:
        await connect(max_retries=2).get("job-1")
    assert caught.value.message == "down for maintenance"
    assert server.count("GET") == 3


async def test_post_is_not_repeated_after_a_read_timeout(
    connect: Connect, server: LoopbackServer
) -> None:
    server.handler = lambda _r: Reply(200, CREATED, delay=1.5)
    api = connect(timeout=0.3, max_retries=3)
    started = time.monotonic()
    with pytest.raises(APITimeoutError):
        await api.run("tag = 'x'")
    assert time.monotonic() - started < 1.2
    assert server.count("POST") == 1


async def test_get_is_retried_after_a_read_timeout(
    connect: Connect, server: LoopbackServer
) -> None:
    server.handler = in_order(Reply(200, IN_PROGRESS, delay=1.5), OK)
    state = await connect(timeout=0.3, max_retries=3).get("job-1")
    assert state.status == "IN_PROGRESS"
    assert server.count("GET") == 2


@pytest.mark.slow  # real-time end to end; the rule itself: test_decisions.py
async def test_read_timeouts_stop_at_max_retries(connect: Connect, server: LoopbackServer) -> None:
    server.handler = lambda _r: Reply(200, IN_PROGRESS, delay=1.5)
    with pytest.raises(APITimeoutError):
        await connect(timeout=0.3, max_retries=1).get("job-1")
    assert server.count("GET") == 2


# -- connection failures ------------------------------------------------------------------


async def test_get_is_retried_after_a_dropped_connection(
    connect: Connect, server: LoopbackServer
) -> None:
    server.handler = in_order(Reply(drop=True), OK)
    state = await connect(max_retries=2).get("job-1")
    assert state.status == "IN_PROGRESS"
    assert server.count("GET") == 2


async def test_post_is_not_repeated_after_a_dropped_connection(
    connect: Connect, server: LoopbackServer
) -> None:
    # The server read the request and then hung up: it may have started the job.
    server.handler = in_order(Reply(drop=True), Reply(200, CREATED))
    with pytest.raises(APIConnectionError):
        await connect(max_retries=2).run("tag = 'x'")
    assert server.count("POST") == 1


def retry_records(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name == "cortexio_sdk" and "retrying" in r.getMessage()]


@pytest.mark.slow  # real-time end to end; the rule itself: test_decisions.py
async def test_connection_refused_is_retried_for_post(
    connect: Connect, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="cortexio_sdk")
    api = connect(base_url=f"http://127.0.0.1:{closed_port()}", max_retries=2)
    started = time.monotonic()
    with pytest.raises(APIConnectionError) as caught:
        await api.run("tag = 'x'")
    elapsed = time.monotonic() - started
    assert not isinstance(caught.value, APITimeoutError)
    assert "ConnectError" in str(caught.value)
    assert str(caught.value).endswith("after 3 attempts")
    records = retry_records(caplog)
    assert len(records) == 2
    # Marked for a front end that shows the first one (the CLI, even without -v).
    assert [(r.cortexio_retry, r.cortexio_connection_failed) for r in records] == [  # type: ignore[attr-defined]
        (1, True),
        (2, True),
    ]
    # Two backoffs (0.25-0.5 s, then 0.5-1 s) were slept: retried, not spun.
    assert 0.6 <= elapsed < 4.0


async def test_connection_refused_without_retries(
    connect: Connect, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="cortexio_sdk")
    api = connect(base_url=f"http://127.0.0.1:{closed_port()}", max_retries=0)
    started = time.monotonic()
    with pytest.raises(APIConnectionError) as caught:
        await api.get("job-1")
    assert time.monotonic() - started < 0.5
    assert retry_records(caplog) == []
    assert str(caught.value).endswith("after 1 attempt")


# -- the overall deadline -----------------------------------------------------------------


@pytest.mark.slow  # real-time end to end; the rule itself: test_decisions.py
async def test_the_call_deadline_bounds_retries(connect: Connect, server: LoopbackServer) -> None:
    server.handler = lambda _r: Reply(
        503, error_body("UNCATEGORIZED"), headers={"Retry-After": "1"}
    )
    api = connect(max_retries=10, call_timeout=1.5)
    started = time.monotonic()
    with pytest.raises(InternalServerError):
        await api.get("job-1")
    # The second 503 arrives at ~1 s; sleeping another second would pass the deadline, so
    # there is no third request (the exact rule: test_decisions.py).
    assert server.count() == 2
    assert time.monotonic() - started < 3.0


@pytest.mark.slow  # real-time end to end; the rule itself: test_decisions.py
async def test_the_call_deadline_bounds_a_slow_answer(
    connect: Connect, server: LoopbackServer
) -> None:
    server.handler = lambda _r: Reply(200, IN_PROGRESS, delay=3.0)
    api = connect(timeout=30, max_retries=10, call_timeout=0.8)
    started = time.monotonic()
    with pytest.raises(APITimeoutError):
        await api.get("job-1")
    assert 0.7 <= time.monotonic() - started < 2.4  # the 0.8 s deadline, not the 3 s answer
    assert server.count() == 1


# -- what a retry logs --------------------------------------------------------------------


async def test_a_retry_is_logged_with_its_reason_and_delay(
    connect: Connect, server: LoopbackServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="cortexio_sdk")
    server.handler = in_order(
        rate_limited("1"), Reply(503, error_body("UNCATEGORIZED"), headers={"Retry-After": "0"}), OK
    )
    await connect().get("job-1")
    first, second = retry_records(caplog)
    assert first.levelno >= logging.INFO
    message = first.getMessage()
    assert "GET" in message
    assert "/api/v1/queries/job-1" in message
    assert "429" in message
    assert "Retry-After" in message
    delay = re.search(r"retrying in (\d+(?:\.\d+)?) s", message)
    assert delay is not None
    assert float(delay.group(1)) == pytest.approx(1.0)
    assert "503" in second.getMessage()
    assert re.search(r"retrying in 0(?:\.0+)? s", second.getMessage())


# -- reading the advice (no server: every odd value, quickly) -----------------------------

NOW = dt.datetime(2026, 1, 5, 12, 0, 0, tzinfo=dt.UTC)


def advice(header: str | None = None, body: bytes = b"") -> float | None:
    headers = {"content-type": "application/problem+json"}
    if header is not None:
        headers["retry-after"] = header
    return retry_after_seconds(httpx.Response(429, headers=headers, content=body), now=NOW)


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("7", 7.0),
        (" 7 ", 7.0),
        ("0", 0.0),
        ("2.5", 2.5),
        ("48051175", 48051175.0),
        ("Mon, 05 Jan 2026 12:00:30 GMT", 30.0),
        ("Monday, 05-Jan-26 12:00:30 GMT", 30.0),
        ("Mon Jan  5 12:00:30 2026", 30.0),
        ("Mon, 5 Jan 2026 12:00:30 +0000", 30.0),
        ("Sun, 04 Jan 2026 12:00:00 GMT", 0.0),  # in the past: go now
        ("-1", None),
        ("-0.5", None),
        ("", None),
        ("soon", None),
        ("5s", None),
        ("10:30", None),
        ("13:00:00", None),
        ("Friday", None),
        ("May", None),
        ("3 PM", None),
        ("tomorrow", None),
        ("1_000", None),
        ("0x10", None),
        ("1e3", None),
        ("inf", None),
        ("nan", None),
        ("+5", None),
        ("Mon, 31 Feb 2026 12:00:30 GMT", None),
    ],
)
def test_retry_after_header_values(header: str, expected: float | None) -> None:
    got = advice(header)
    if expected is None:
        assert got is None
    else:
        assert got == pytest.approx(expected)


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (b'{"retryAfter": 3}', 3.0),
        (b'{"retryAfter": 0.5}', 0.5),
        (b'{"retryAfter": -3}', None),
        (b'{"retryAfter": "3"}', None),
        (b'{"retryAfter": true}', None),
        (b'{"retryAfter": null}', None),
        (b'{"retryAfter": NaN}', None),
        (b'{"retryAfter": 1e400}', math.inf),
        (b'{"retryAfter": 1' + b"0" * 400 + b"}", math.inf),
        (b"[3]", None),
        (b"not json", None),
        (b"", None),
        (b"[" * 100_000, None),
    ],
)
def test_retry_after_body_values(body: bytes, expected: float | None) -> None:
    assert advice(None, body) == expected


def test_a_readable_header_wins_and_an_unreadable_one_defers_to_the_body() -> None:
    assert advice("2", b'{"retryAfter": 9}') == 2.0
    assert advice("soon", b'{"retryAfter": 9}') == 9.0
    assert advice("-1", b'{"retryAfter": 9}') == 9.0


# -- cancellation is never swallowed ------------------------------------------------------


class Interrupted(BaseException):
    """Stands in for KeyboardInterrupt, which pytest itself would act on."""


@pytest.mark.parametrize("answer", ["retry-after", "slow"])
def test_an_interrupt_stops_a_sync_call_at_once(server: LoopbackServer, answer: str) -> None:
    server.handler = lambda _r: (
        rate_limited("5") if answer == "retry-after" else Reply(200, IN_PROGRESS, delay=5)
    )

    def interrupt(_signum: int, _frame: object) -> None:
        raise Interrupted

    previous = signal.signal(signal.SIGUSR1, interrupt)
    timer = threading.Timer(0.3, os.kill, (os.getpid(), signal.SIGUSR1))
    started = time.monotonic()
    try:
        with Cortex(api_key=API_KEY, base_url=server.url) as client:
            timer.start()
            with pytest.raises(Interrupted):
                client.queries.get("job-1")
    finally:
        timer.cancel()
        signal.signal(signal.SIGUSR1, previous)
    assert time.monotonic() - started < 2.0
    assert server.count() == 1


@pytest.mark.parametrize("answer", ["retry-after", "slow"])
async def test_cancelling_an_async_call_stops_it_at_once(
    server: LoopbackServer, answer: str
) -> None:
    server.handler = lambda _r: (
        rate_limited("5") if answer == "retry-after" else Reply(200, IN_PROGRESS, delay=5)
    )
    async with AsyncCortex(api_key=API_KEY, base_url=server.url) as client:
        task = asyncio.create_task(client.queries.get("job-1"))
        await asyncio.sleep(0.3)
        started = time.monotonic()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert time.monotonic() - started < 0.5
    assert task.cancelled()
    assert server.count() == 1
