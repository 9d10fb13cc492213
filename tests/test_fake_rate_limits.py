"""The fake's rate limit shapes: a token bucket, a fixed window and a sliding window, with
Retry-After in the header or only in the problem+json body.

The arithmetic is checked on given times (the classes' `now`), never by sleeping; the HTTP tests
run against a real FakeCortex on 127.0.0.1 with limits of a few requests a minute, so that no
request a test makes can be let through by time passing, and Retry-After is checked within
generous bounds.
"""

from __future__ import annotations

import re
import signal
import subprocess
import sys
from collections.abc import Iterator

import httpx
import pytest
from cortexio_sdk import RateLimitError
from cortexio_sdk.testing import FakeCortex, Faults, main
from cortexio_sdk.testing._faults import (
    FixedWindow,
    RateLimit,
    SlidingWindow,
    split_rate,
)
from harness import Kind, call_once

pytest_plugins = ["cortexio_sdk.testing.pytest_plugin", "pytester"]

KEY = "test-key"
AUTH = {"Authorization": f"Bearer {KEY}"}
JOB = "/api/v1/queries/job-x"  # an unknown job: 404 when let through, 429 when not
INT32_MAX = 2**31 - 1


def takes(limit: RateLimit | FixedWindow | SlidingWindow, *times: float) -> list[int | None]:
    return [limit.take(now) for now in times]


# --- the token bucket ---


def test_a_token_bucket_lets_its_burst_through_then_asks_for_the_next_token() -> None:
    bucket = RateLimit(2, 2, now=10.0)
    assert takes(bucket, 10.0, 10.0, 10.0) == [None, None, 1]  # 0.5 s to a token, rounded up
    assert takes(bucket, 10.5, 10.5) == [None, 1]


def test_a_token_bucket_of_any_rate_and_a_burst_of_one() -> None:
    bucket = RateLimit(1 / 6, 1, now=0.0)  # 10 per minute, one at a time
    assert takes(bucket, 0.0, 0.0, 3.0, 5.9, 6.0) == [None, 6, 3, 1, None]
    slow = RateLimit(1 / 3600, 1, now=0.0)
    assert takes(slow, 0.0, 0.0) == [None, 3600]
    with pytest.raises(ValueError, match="burst"):
        RateLimit(5, 0.5)


def test_a_token_bucket_keeps_its_default_burst_of_one_seconds_worth() -> None:
    assert RateLimit(5, now=0.0).burst == 5
    assert RateLimit(0.2, now=0.0).burst == 1


# --- the fixed window ---


def test_a_fixed_window_counts_per_window_and_asks_for_the_windows_end() -> None:
    window = FixedWindow(3, 1.0, now=100.0)
    assert window.per_second == 3
    assert takes(window, 100.0, 100.1, 100.2) == [None, None, None]
    assert takes(window, 100.3, 100.99) == [1, 1]  # 0.7 s and 0.01 s, rounded up
    assert takes(window, 101.0, 101.5, 101.6, 101.7) == [None, None, None, 1]


def test_fixed_windows_are_aligned_to_when_the_limit_was_made() -> None:
    window = FixedWindow(600, 60.0, now=5.0)  # windows [5, 65), [65, 125), ...
    assert window.per_second == 10
    assert takes(window, *[5.0] * 600) == [None] * 600
    assert takes(window, 6.0, 30.0, 64.5) == [59, 35, 1]
    assert window.take(65.0) is None
    assert window.take(5.0 + 60 * 4 + 1) is None  # windows nobody used are skipped
    assert takes(window, *[246.0] * 599) == [None] * 599
    assert window.take(246.0) == 59


def test_a_fixed_window_of_a_fraction_of_a_second_or_of_seconds() -> None:
    window = FixedWindow(5, 2.5, now=0.0)
    assert window.per_second == 2
    assert takes(window, *[0.0] * 5) == [None] * 5
    assert takes(window, 0.1, 2.4, 2.5) == [3, 1, None]
    short = FixedWindow(1, 0.25, now=0.0)
    assert takes(short, 0.0, 0.1, 0.25, 0.3) == [None, 1, None, 1]


def test_a_fixed_window_lets_twice_its_count_through_across_a_boundary() -> None:
    # What tells a fixed window from a sliding one: a client meets both windows' counts at once.
    fixed = FixedWindow(3, 10.0, now=0.0)
    sliding = SlidingWindow(3, 10.0, now=0.0)
    times = (9.9, 9.9, 9.9, 10.0, 10.0, 10.0)
    assert takes(fixed, *times) == [None] * 6
    assert takes(sliding, *times) == [None, None, None, 10, 10, 10]


# --- the sliding window ---


def test_a_sliding_window_asks_for_when_the_oldest_request_leaves_it() -> None:
    window = SlidingWindow(3, 10.0, now=0.0)
    assert window.per_second == pytest.approx(0.3)
    assert takes(window, 0.0, 4.0, 8.0) == [None, None, None]
    assert takes(window, 9.0, 9.99) == [1, 1]
    assert window.take(10.0) is None  # the request at 0 has left: 4, 8 and 10 are counted
    assert takes(window, 11.0, 11.0) == [3, 3]


def test_a_sliding_window_does_not_count_its_429s() -> None:
    window = SlidingWindow(2, 60.0, now=0.0)
    assert takes(window, 0.0, 30.0) == [None, None]
    assert takes(window, *[31.0] * 100) == [29] * 100
    assert window.take(60.0) is None  # the 100 refused requests did not fill the window
    assert window.take(60.0) == 30


def test_a_sliding_window_of_a_fraction_of_a_second() -> None:
    window = SlidingWindow(2, 0.5, now=0.0)
    assert window.per_second == 4
    assert takes(window, 0.0, 0.1, 0.2, 0.5, 0.55, 0.6) == [None, None, 1, None, 1, None]


# --- what every shape shares ---


@pytest.mark.parametrize("make", [RateLimit, FixedWindow, SlidingWindow])
def test_a_clock_read_late_does_not_run_time_back(make: type[RateLimit]) -> None:
    # The server reads the clock before taking the lock: a request may arrive a little "earlier"
    # than the one before it.
    limit = make(1, 1, now=0.0)
    assert takes(limit, 0.0, 5.0) == [None, None]
    assert limit.take(4.9) == 1  # counted at 5.0, not at 4.9


@pytest.mark.parametrize(
    "limit",
    [RateLimit(1e-12, 1, now=0.0), FixedWindow(1, 1e12, now=0.0), SlidingWindow(1, 1e12, now=0.0)],
    ids=["token-bucket", "fixed-window", "sliding-window"],
)
def test_retry_after_fits_cortexs_int32(limit: RateLimit) -> None:
    assert takes(limit, 0.0, 0.0) == [None, INT32_MAX]


@pytest.mark.parametrize(
    ("limit", "words"),
    [
        (RateLimit(2, 3, now=0.0), "token bucket of 2 requests per second, burst 3"),
        (FixedWindow(600, 60, now=0.0), "fixed window of 600 requests per 60 s"),
        (SlidingWindow(5, 0.5, now=0.0), "sliding window of 5 requests in any 0.5 s"),
    ],
)
def test_each_limit_describes_its_shape(limit: RateLimit, words: str) -> None:
    assert limit.describe() == words
    assert words.startswith(limit.shape.replace("-", " "))


@pytest.mark.parametrize("make", [FixedWindow, SlidingWindow])
def test_window_arguments_are_checked(make: type[FixedWindow]) -> None:
    for count, window in [(0, 1.0), (2.5, 1.0), (-1, 1.0), (1, 0.0), (1, -1.0), (1, float("inf"))]:
        with pytest.raises(ValueError, match=r"count|window"):
            make(count, window)  # type: ignore[arg-type]  # 2.5: a fraction on purpose
    assert make(3.0, 1, now=0.0).count == 3  # type: ignore[arg-type]  # a whole float is a count


# --- faults.rate_limit ---


def test_rate_limit_makes_each_shape_from_a_rate_and_a_window() -> None:
    faults = Faults()
    faults.rate_limit(per_second=5)
    bucket = faults.active_rate_limit
    assert isinstance(bucket, RateLimit)
    assert (bucket.per_second, bucket.burst) == (5, 5)
    faults.rate_limit(2, 1)  # the burst may be given by position
    assert isinstance(bucket := faults.active_rate_limit, RateLimit)
    assert bucket.burst == 1
    faults.rate_limit(10, shape="fixed-window", window=60)
    fixed = faults.active_rate_limit
    assert isinstance(fixed, FixedWindow)
    assert (fixed.count, fixed.window, fixed.per_second) == (600, 60, 10)
    faults.rate_limit(per_minute=1000, shape="sliding-window")  # per minute: a 60 s window
    sliding = faults.active_rate_limit
    assert isinstance(sliding, SlidingWindow)
    assert (sliding.count, sliding.window) == (1000, 60)
    faults.rate_limit(0.5, shape="fixed-window", window=4, retry_after_in="body")
    assert isinstance(fixed := faults.active_rate_limit, FixedWindow)
    assert fixed.count == 2
    assert faults.retry_after_in == "body"
    assert faults.describe_rate_limit() == (
        "rate limit: fixed window of 2 requests per 4 s; Retry-After in the problem+json body only"
    )
    faults.rate_limit()
    assert faults.active_rate_limit is None
    assert faults.describe_rate_limit() == "no rate limit"


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"per_second": 2.5, "shape": "fixed-window"}, "whole number of requests"),
        ({"per_second": 0.5, "shape": "sliding-window"}, r"0\.5 per second over 1 s is 0\.5"),
        ({"per_second": 10, "shape": "fixed-window", "window": 0.05}, "whole number"),
        ({"per_second": 5, "burst": 5, "shape": "fixed-window"}, "burst is for the token-bucket"),
        ({"per_second": 5, "burst": 2, "shape": "sliding-window"}, "burst"),
        ({"per_second": 5, "window": 2}, "window is for the fixed-window and sliding-window"),
        ({"per_second": 5, "shape": "leaky-bucket"}, "shape must be one of token-bucket"),
        ({"per_second": 5, "retry_after_in": "trailer"}, "retry_after_in must be one of"),
        ({"per_second": 0}, "per_second must be positive"),
        ({"shape": "fixed-window"}, "need a rate"),
        ({"burst": 2}, "need a rate"),
        ({"retry_after_in": "body"}, "need a rate"),
        ({"per_second": 1, "per_minute": 60}, "not both"),
    ],
)
def test_rate_limit_arguments_are_checked(options: dict[str, object], message: str) -> None:
    faults = Faults()
    faults.rate_limit(per_second=3)
    with pytest.raises(ValueError, match=message):
        faults.rate_limit(**options)  # type: ignore[arg-type]
    assert isinstance(faults.active_rate_limit, RateLimit)  # a bad call changes nothing


def test_changing_the_limit_mid_run_goes_on_from_its_state() -> None:
    # Another client joining or leaving the key changes what is left for this one, not what was
    # used: a changed limit hands out no fresh burst. Rates of a few an hour, so that the time
    # this test takes cannot refill anything.
    faults = Faults()
    faults.rate_limit(per_minute=0.01, burst=3)
    now = 0.0  # before the limit was made: counted as when it was made
    assert [faults.take_token(now) for _ in range(3)] == [None] * 3
    assert faults.take_token(now) is not None
    faults.rate_limit(per_minute=0.02, burst=5)  # twice the rate, a larger burst: still empty
    limited = faults.take_token(now)
    assert limited is not None
    assert limited.limit is faults.active_rate_limit
    faults.rate_limit()
    faults.rate_limit(per_minute=0.02, burst=5)  # removed first: full again
    assert [faults.take_token(now) for _ in range(5)] == [None] * 5


def test_changing_a_window_mid_run_keeps_what_the_window_counted() -> None:
    faults = Faults()
    faults.rate_limit(per_minute=2, shape="fixed-window", window=3600)  # 120 an hour
    assert all(faults.take_token(0.0) is None for _ in range(120))
    faults.rate_limit(per_minute=3, shape="fixed-window", window=3600)  # 60 more this hour
    assert all(faults.take_token(0.0) is None for _ in range(60))
    assert faults.take_token(0.0) is not None
    faults.rate_limit(per_minute=2, shape="sliding-window", window=3600)  # another shape: afresh
    assert all(faults.take_token(0.0) is None for _ in range(120))
    faults.rate_limit(per_minute=1, shape="sliding-window", window=3600)  # fewer: already full
    assert faults.take_token(0.0) is not None


# --- over HTTP, against a real FakeCortex ---

SHAPES = ["token-bucket", "fixed-window", "sliding-window"]
# 2 requests a minute; the bucket holds 2, so every shape lets 2 through, then refuses the third
# for about 30 s (the bucket's next token) or 60 s (the windows). The bounds allow a slow machine.
EXPECTED_WAIT = {"token-bucket": (25, 30), "fixed-window": (50, 60), "sliding-window": (50, 60)}
WORDS = {
    "token-bucket": "token bucket of 0.0333333 requests per second, burst 2",
    "fixed-window": "fixed window of 2 requests per 60 s",
    "sliding-window": "sliding window of 2 requests in any 60 s",
}


def limited_fake(shape: str, retry_after_in: str) -> FakeCortex:
    burst = {"burst": 2} if shape == "token-bucket" else {}
    return FakeCortex(
        api_key=KEY,
        job_seconds=0,
        rate_limit="2/min",
        shape=shape,  # type: ignore[arg-type]  # a str from the parametrization
        retry_after_in=retry_after_in,  # type: ignore[arg-type]
        **burst,  # type: ignore[arg-type]
    )


def spend_then_refused(base_url: str) -> httpx.Response:
    """Two requests let through, the third refused: the 429."""
    with httpx.Client(base_url=base_url, headers=AUTH, timeout=10) as http:
        assert [http.get(JOB).status_code for _ in range(2)] == [404, 404]
        return http.get(JOB)


def assert_rate_limited(response: httpx.Response, shape: str, retry_after_in: str) -> int:
    """A well-formed 429 with the wait where it was asked for; returns the wait."""
    assert response.status_code == 429, response.text
    assert response.headers["content-type"] == "application/problem+json"
    body = response.json()
    wait = body["retryAfter"]
    assert isinstance(wait, int)
    low, high = EXPECTED_WAIT[shape]
    assert low <= wait <= high, body
    if retry_after_in == "header":
        assert response.headers["retry-after"] == str(wait)
    else:
        assert "retry-after" not in response.headers
    assert WORDS[shape] in body["detail"]
    assert (body["status"], body["title"], body["type"]) == (
        429,
        "Too Many Requests",
        "about:blank",
    )
    return wait


@pytest.mark.parametrize("retry_after_in", ["header", "body"])
@pytest.mark.parametrize("shape", SHAPES)
def test_each_shape_answers_429_with_retry_after_where_asked(
    shape: str, retry_after_in: str, kind: Kind
) -> None:
    with limited_fake(shape, retry_after_in) as fake:
        wait = assert_rate_limited(spend_then_refused(fake.base_url), shape, retry_after_in)
        settings = {"api_key": KEY, "base_url": fake.base_url, "max_retries": 0}
        # The SDK's own clients read the wait from either place.
        with pytest.raises(RateLimitError) as caught:
            call_once(kind, "get", "job-x", settings=settings)
        assert fake.counters.rate_limited == 2
    assert caught.value.status_code == 429
    assert caught.value.retry_after is not None
    assert wait - 2 <= caught.value.retry_after <= wait


def test_the_limit_changes_mid_run_over_http() -> None:
    # As a benchmark does when another client joins the key (the limit left for this one halves)
    # or leaves it (doubles): the change applies from the next request.
    with (
        FakeCortex(api_key=KEY, job_seconds=0) as fake,
        httpx.Client(base_url=fake.base_url, headers=AUTH, timeout=10) as http,
    ):

        def statuses(n: int) -> list[int]:
            return [http.get(JOB).status_code for _ in range(n)]

        fake.faults.rate_limit(per_minute=2, shape="fixed-window")
        assert statuses(3) == [404, 404, 429]
        fake.faults.rate_limit(per_minute=4, shape="fixed-window")  # a client left
        assert statuses(3) == [404, 404, 429]
        fake.faults.rate_limit(per_minute=1, shape="fixed-window", retry_after_in="body")
        refused = http.get(JOB)  # a client joined: this window is already over its count
        assert refused.status_code == 429
        assert "retry-after" not in refused.headers
        assert 50 <= refused.json()["retryAfter"] <= 60
        fake.faults.rate_limit(None)
        assert statuses(5) == [404] * 5
        fake.faults.rate_limit(per_minute=1, burst=2)
        assert statuses(3) == [404, 404, 429]
        fake.faults.rate_limit(per_minute=2, burst=2)  # the bucket stays empty: ~30 s to a token
        refused = http.get(JOB)
        assert refused.status_code == 429
        assert 25 <= int(refused.headers["retry-after"]) <= 30
        assert fake.counters.rate_limited == 5


# --- FakeCortex and the cortex_fake marker ---


def test_fake_cortex_takes_the_window_from_the_rates_unit() -> None:
    fake = FakeCortex(rate_limit="600/min", shape="fixed-window")
    assert isinstance(limit := fake.faults.active_rate_limit, FixedWindow)
    assert (limit.count, limit.window) == (600, 60)
    fake = FakeCortex(rate_limit="10/s", shape="sliding-window", retry_after_in="body")
    assert isinstance(limit := fake.faults.active_rate_limit, SlidingWindow)
    assert (limit.count, limit.window) == (10, 1)
    assert fake.faults.retry_after_in == "body"
    fake = FakeCortex(rate_limit=10, shape="sliding-window", window=6)  # a number is per second
    assert isinstance(limit := fake.faults.active_rate_limit, SlidingWindow)
    assert (limit.count, limit.window) == (60, 6)
    fake = FakeCortex(rate_limit="1000/min", shape="fixed-window", window=3)
    assert isinstance(limit := fake.faults.active_rate_limit, FixedWindow)
    assert (limit.count, limit.window) == (50, 3)
    fake = FakeCortex(rate_limit="5/s", burst=1)  # as before
    assert isinstance(limit := fake.faults.active_rate_limit, RateLimit)
    assert (limit.per_second, limit.burst) == (5, 1)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"rate_limit": "5/s", "burst": 2, "shape": "fixed-window"}, "burst"),
        ({"rate_limit": "5/2s"}, "unknown unit"),
        ({"rate_limit": "2.5/s", "shape": "sliding-window"}, "whole number"),
        ({"shape": "fixed-window"}, "need rate_limit"),
        ({"burst": 3}, "need rate_limit"),
        ({"retry_after_in": "body"}, "needs rate_limit"),
    ],
)
def test_fake_cortex_rate_limit_arguments_are_checked(
    options: dict[str, object], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        FakeCortex(**options)  # type: ignore[arg-type]


@pytest.mark.cortex_fake(
    job_seconds=0, api_key=KEY, rate_limit="2/min", shape="sliding-window", retry_after_in="body"
)
def test_the_marker_takes_the_same_keywords(cortex_fake: FakeCortex) -> None:
    limit = cortex_fake.faults.active_rate_limit
    assert isinstance(limit, SlidingWindow)
    assert (limit.count, limit.window) == (2, 60)
    response = spend_then_refused(cortex_fake.base_url)
    assert_rate_limited(response, "sliding-window", "body")


@pytest.mark.parametrize(
    "cortex_fake",
    [{"api_key": KEY, "rate_limit": "2/min", "shape": "fixed-window"}],
    indirect=True,
)
def test_indirect_parametrization_takes_them_too(cortex_fake: FakeCortex) -> None:
    response = spend_then_refused(cortex_fake.base_url)
    assert_rate_limited(response, "fixed-window", "header")


def test_a_bad_marker_combination_fails_the_test_clearly(pytester: pytest.Pytester) -> None:
    pytester.makeconftest('pytest_plugins = ["cortexio_sdk.testing.pytest_plugin"]')
    pytester.makepyfile(
        """
        import pytest

        @pytest.mark.cortex_fake(rate_limit="600/min", shape="fixed-window", burst=10)
        def test_burst_with_a_window(cortex_fake):
            pass

        @pytest.mark.cortex_fake(rate_limit="600/min", shape="fixed-window")
        def test_a_window_per_minute(cortex_fake):
            assert cortex_fake.faults.active_rate_limit.count == 600
            assert cortex_fake.faults.active_rate_limit.window == 60
        """
    )
    result = pytester.runpytest_inprocess(
        "--strict-markers", "-p", "no:cacheprovider", "-p", "no:asyncio"
    )
    result.assert_outcomes(passed=1, errors=1)
    result.stdout.fnmatch_lines(["*burst is for the token-bucket shape only, not fixed-window*"])


# --- serve-fake's flags ---


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--burst", "3"], "--burst needs --rate-limit"),
        (["--rate-limit-shape", "fixed-window"], "--rate-limit-shape needs --rate-limit"),
        (["--retry-after-in", "body"], "--retry-after-in needs --rate-limit"),
        (
            ["--rate-limit", "600/min", "--rate-limit-shape", "sliding-window", "--burst", "5"],
            "--burst is for --rate-limit-shape token-bucket only, not sliding-window",
        ),
        (
            ["--rate-limit", "2.5/s", "--rate-limit-shape", "fixed-window"],
            "--rate-limit: a fixed-window limit needs a whole number of requests per window",
        ),
        (["--rate-limit", "10/s", "--burst", "0.5"], "argument --burst: must be at least 1"),
        (["--rate-limit", "10/s", "--burst", "lots"], "argument --burst: not a number"),
        (["--rate-limit", "10/fortnight"], "argument --rate-limit: rate '10/fortnight'"),
        (["--rate-limit", "10/s", "--rate-limit-shape", "leaky"], "argument --rate-limit-shape"),
        (["--rate-limit", "10/s", "--retry-after-in", "trailer"], "argument --retry-after-in"),
    ],
)
def test_serve_fake_rejects_bad_rate_limit_flags(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exited:
        main(argv)
    assert exited.value.code == 2
    assert message in capsys.readouterr().err


@pytest.fixture
def serve() -> Iterator[list[subprocess.Popen[str]]]:
    """Started `python -m cortexio_sdk.testing` processes, killed after the test if still up."""
    started: list[subprocess.Popen[str]] = []
    yield started
    for process in started:
        if process.poll() is None:
            process.kill()
            process.wait()


@pytest.mark.parametrize(
    ("flags", "shape", "retry_after_in"),
    [
        ("--rate-limit 2/min --burst 2", "token-bucket", "header"),
        ("--rate-limit 2/min --rate-limit-shape fixed-window", "fixed-window", "header"),
        (
            "--rate-limit 2/min --rate-limit-shape sliding-window --retry-after-in body",
            "sliding-window",
            "body",
        ),
    ],
    ids=["token-bucket", "fixed-window", "sliding-window-body"],
)
def test_serve_fake_serves_each_shape(
    flags: str, shape: str, retry_after_in: str, serve: list[subprocess.Popen[str]]
) -> None:
    argv = [sys.executable, "-m", "cortexio_sdk.testing", "--port", "0", "--api-key", KEY]
    process = subprocess.Popen(
        [*argv, *flags.split()],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    serve.append(process)
    assert process.stdout is not None
    assert process.stderr is not None
    url_line = process.stdout.readline().strip()
    match = re.fullmatch(r"export CORTEX_BASE_URL=(http://127\.0\.0\.1:\d+)", url_line)
    assert match, url_line
    listening = process.stderr.readline()
    assert match[1] in listening
    assert f"rate limit: {WORDS[shape]}" in listening
    placement = "header" if retry_after_in == "header" else "problem+json body only"
    assert f"Retry-After in the {placement}" in listening
    assert_rate_limited(spend_then_refused(match[1]), shape, retry_after_in)
    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=10) == 0


def test_a_window_takes_the_rates_unit_as_its_window() -> None:
    assert split_rate("600/min") == (600, 60)
    assert split_rate("10/s") == (10, 1)
    assert split_rate("2/hours") == (2, 3600)
    assert split_rate("7") == (7, 1)
