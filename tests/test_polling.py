"""wait / run_and_wait / as_completed end to end, sync and async.

Jobs that take a set time run on the shipped fake Cortex (`FakeCortex.start_job`), whose record
of requests says when each job was polled; answers no real server would script (every request
429, a status newer than the spec) come from the loopback server. The schedule's arithmetic is
checked on a fake clock in test_decisions.py.
"""

from __future__ import annotations

import asyncio
import logging
import resource
import signal
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
from cortexio_sdk import (
    AsyncCortex,
    Cortex,
    NotFoundError,
    QueryBuilderResult,
    QueryCancelledError,
    QueryFailedError,
    QueryStatus,
    QueryTimedOutError,
    RateLimitError,
    WaitTimeoutError,
)
from cortexio_sdk.testing import FakeCortex, Job
from harness import call_once
from loopback import LoopbackServer, Received, Reply

KEY = "polling-test-key"
MODES = ["sync", "async"]


class Jobs:
    """Jobs on the shipped fake Cortex: started with a set duration, polls read off its record."""

    def __init__(self, fake: FakeCortex) -> None:
        self.fake = fake
        self.url = fake.base_url
        self._started = 0

    def add(self, seconds: float, outcome: str = "DONE") -> Job:
        self._started += 1
        return self.fake.start_job(f"tag = 'job-{self._started}'", seconds=seconds, status=outcome)

    def polls(self, job_id: str) -> list[float]:
        """When the GETs of this job arrived."""
        path = f"/api/v1/queries/{job_id}"
        return [r.at for r in self.fake.requests if r.method == "GET" and r.path == path]

    def gets(self, job_id: str) -> int:
        return len(self.polls(job_id))

    def ids(self) -> set[str]:
        return {job.job_id for job in self.fake.jobs()}


def ends_at(job: Job) -> float:
    return job.started + job.seconds


@pytest.fixture
def jobs() -> Iterator[Jobs]:
    with FakeCortex(api_key=KEY, job_seconds=0) as fake:
        yield Jobs(fake)


def call(
    mode: str,
    url: str,
    method: str,
    *args: Any,
    client: dict[str, Any] | None = None,
    **kwargs: Any,
) -> Any:
    """client.queries.<method>(*args, **kwargs) on a fresh client of `mode` for `url`, told a
    limit far above its polls' pace (the limiter's slow start is not what these measure)."""
    settings = {"api_key": KEY, "base_url": url, "requests_per_minute": 600_000, **(client or {})}
    return call_once(mode, method, *args, settings=settings, **kwargs)  # type: ignore[arg-type]


@pytest.mark.slow
def test_short_and_long_jobs_are_seen_done_quickly_with_few_requests(jobs: Jobs) -> None:
    """A 3 s job within 1 s after done in <= 15 GETs; a 12 s job within 2.5 s in <= 30 GETs.

    On real sockets and real time; the schedule's arithmetic over any length of job is checked on
    the fake clock (test_decisions.py)."""
    lengths = {"3s": 3.0, "12s": 12.0}
    started = {
        (mode, name): jobs.add(seconds) for mode in MODES for name, seconds in lengths.items()
    }
    returned: dict[tuple[str, str], float] = {}
    errors: list[BaseException] = []

    def waiter(key: tuple[str, str]) -> None:
        try:
            state = call(key[0], jobs.url, "wait", started[key].job_id, timeout=60)
            assert state.status is QueryStatus.DONE
            returned[key] = time.monotonic()
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=waiter, args=(key,)) for key in started]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not errors, errors
    for (mode, name), job in started.items():
        late = returned[(mode, name)] - ends_at(job)
        gets = jobs.gets(job.job_id)
        print(f"\n{mode} {name} job: returned {late:.2f} s after done, {gets} GET requests")
        bound_late, bound_gets = (1.0, 15) if name == "3s" else (2.5, 30)
        assert 0 <= late <= bound_late
        assert gets <= bound_gets


@pytest.mark.slow  # real-time end to end; the rule itself: test_decisions.py
@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize(
    ("outcome", "error"),
    [
        ("FAILURE", QueryFailedError),
        ("CANCELLED", QueryCancelledError),
        ("TIMED_OUT", QueryTimedOutError),
    ],
)
def test_failed_ends_raise_their_error_at_the_first_poll_that_sees_them(
    jobs: Jobs, mode: str, outcome: str, error: type[Exception]
) -> None:
    job = jobs.add(0.0, outcome)
    with pytest.raises(error) as caught:
        call(mode, jobs.url, "wait", job.job_id, timeout=30)
    assert jobs.gets(job.job_id) == 1
    assert caught.value.job_id == job.job_id  # type: ignore[attr-defined]
    assert caught.value.state.status == outcome  # type: ignore[attr-defined]
    assert outcome in str(caught.value)

    later = jobs.add(1.0, outcome)
    start = time.monotonic()
    with pytest.raises(error):
        call(mode, jobs.url, "wait", later.job_id, timeout=30)
    assert time.monotonic() - ends_at(later) < 0.7
    assert time.monotonic() - start < 3.0
    calls_seen = jobs.gets(later.job_id)
    time.sleep(0.6)
    assert jobs.gets(later.job_id) == calls_seen  # no polling after the end


@pytest.mark.slow  # real-time end to end; the rule itself: test_decisions.py
@pytest.mark.parametrize("mode", MODES)
def test_the_deadline_ends_a_wait_on_a_job_that_never_ends(jobs: Jobs, mode: str) -> None:
    job = jobs.add(3600.0)
    start = time.monotonic()
    with pytest.raises(WaitTimeoutError) as caught:
        call(mode, jobs.url, "wait", job.job_id, timeout=2)
    elapsed = time.monotonic() - start
    print(f"\n{mode}: WaitTimeoutError after {elapsed:.2f} s")
    # Exact schedule and deadline: test_decisions.py. Here, on sockets, 3x margin.
    assert 2.0 <= elapsed <= 6.0
    assert isinstance(caught.value, TimeoutError)
    assert caught.value.job_id == job.job_id
    assert caught.value.state is not None
    assert caught.value.state.status is QueryStatus.IN_PROGRESS
    assert job.job_id in str(caught.value)


@pytest.mark.slow  # real-time end to end; the rule itself: test_decisions.py
@pytest.mark.parametrize("mode", MODES)
def test_the_deadline_bounds_retry_after_sleeps(server: LoopbackServer, mode: str) -> None:
    limited = {"type": "about:blank", "title": "Too Many Requests", "status": 429}
    server.handler = lambda _r: Reply(
        429, limited, headers={"Retry-After": "30"}, content_type="application/problem+json"
    )
    start = time.monotonic()
    with pytest.raises(WaitTimeoutError) as caught:
        call(mode, server.url, "wait", "job-x", timeout=1.5)
    elapsed = time.monotonic() - start
    assert 1.5 <= elapsed <= 4.5  # not the 30 s asked for
    assert caught.value.state is None


@pytest.mark.slow  # real-time end to end; the rule itself: test_decisions.py
@pytest.mark.parametrize("mode", MODES)
def test_429_while_polling_still_yields_the_result(jobs: Jobs, mode: str) -> None:
    job = jobs.add(2.0)
    jobs.fake.faults.rate_limit(per_second=1, burst=1)  # 429s with Retry-After: 1 in between
    state = call(mode, jobs.url, "wait", job.job_id, timeout=30, poll_interval=0.3)
    assert state.status is QueryStatus.DONE
    assert jobs.fake.counters.rate_limited >= 1  # it really met 429s


@pytest.mark.slow  # real-time end to end; the rule itself: test_decisions.py
@pytest.mark.parametrize("mode", MODES)
def test_rate_limit_errors_the_transport_gives_up_on_are_absorbed(jobs: Jobs, mode: str) -> None:
    """With no retries left in the transport, the wait itself waits out each 429."""
    job = jobs.add(1.0)
    jobs.fake.faults.errors(429, count=3, method="GET", retry_after="0.3")
    state = call(mode, jobs.url, "wait", job.job_id, timeout=20, client={"max_retries": 0})
    assert state.status is QueryStatus.DONE
    assert jobs.fake.counters.injected_errors == 3


@pytest.mark.parametrize("mode", MODES)
def test_an_unknown_job_raises_not_found_at_once(jobs: Jobs, mode: str) -> None:
    start = time.monotonic()
    with pytest.raises(NotFoundError):
        call(mode, jobs.url, "wait", "no-such-job", timeout=30)
    assert time.monotonic() - start < 3.0
    assert jobs.gets("no-such-job") == 1


@pytest.mark.slow  # real-time end to end; the rule itself: test_decisions.py
@pytest.mark.parametrize("mode", MODES)
def test_progress_callback_runs_on_changes_only(jobs: Jobs, mode: str) -> None:
    job = jobs.add(2.0)
    seen: list[tuple[str, object]] = []

    def on_progress(state: QueryBuilderResult) -> None:
        seen.append((str(state.status), state.progress))

    call(mode, jobs.url, "wait", job.job_id, timeout=30, poll_interval=0.1, on_progress=on_progress)
    gets = jobs.gets(job.job_id)
    assert seen[-1] == ("DONE", 1)
    assert seen[0][0] == "IN_PROGRESS"
    assert len(seen) <= gets
    assert len(set(seen)) == len(seen)  # each call reports a change
    progresses = [p for status, p in seen if status == "IN_PROGRESS"]
    assert progresses == sorted(progresses)


def test_async_progress_callback_may_be_a_coroutine(jobs: Jobs) -> None:
    job = jobs.add(0.5)
    seen: list[str] = []

    async def on_progress(state: QueryBuilderResult) -> None:
        await asyncio.sleep(0)
        seen.append(str(state.status))

    call("async", jobs.url, "wait", job.job_id, timeout=30, on_progress=on_progress)
    assert seen[-1] == "DONE"


@pytest.mark.parametrize("mode", MODES)
def test_an_unknown_status_is_logged_once_and_treated_as_running(
    server: LoopbackServer, mode: str, caplog: pytest.LogCaptureFixture
) -> None:
    count = {"n": 0}
    details = {"initiatedAt": "2024-07-29T15:51:28.071Z", "jobId": "j", "query": "q"}

    def paused_then_done(_request: Received) -> Reply:
        count["n"] += 1
        status = "PAUSED" if count["n"] < 4 else "DONE"
        return Reply(200, {"queryDetails": details, "status": status})

    server.handler = paused_then_done
    with caplog.at_level(logging.WARNING, logger="cortexio_sdk"):
        state = call(mode, server.url, "wait", "j", timeout=30, poll_interval=0.05)
    assert state.status is QueryStatus.DONE
    warnings = [r for r in caplog.records if "PAUSED" in r.getMessage()]
    assert len(warnings) == 1


@pytest.mark.parametrize("mode", MODES)
def test_run_and_wait_returns_the_entities(jobs: Jobs, mode: str) -> None:
    jobs.fake.faults.job_duration(0.5)
    state = call(mode, jobs.url, "run_and_wait", "tag = 'payments-api'", timeout=30)
    assert state.status is QueryStatus.DONE
    assert [entity.name for entity in state.result] == ["Payments API"]
    assert jobs.fake.counters.requests_by_method["POST"] == 1


@pytest.mark.slow  # real-time end to end; the rule itself: test_decisions.py
@pytest.mark.parametrize("mode", MODES)
def test_run_and_wait_deadline_covers_the_whole_call(jobs: Jobs, mode: str) -> None:
    jobs.fake.faults.job_duration(60)
    start = time.monotonic()
    with pytest.raises(WaitTimeoutError) as caught:
        call(mode, jobs.url, "run_and_wait", "tag = 'payments'", timeout=1.5)
    assert 1.5 <= time.monotonic() - start <= 4.5  # not the job's 60 s
    assert caught.value.job_id in jobs.ids()


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize(
    ("kwargs", "error", "named"),
    [
        ({"timeout": 0}, ValueError, "timeout"),
        ({"timeout": -1}, ValueError, "timeout"),
        ({"timeout": float("nan")}, ValueError, "timeout"),
        ({"timeout": "10"}, TypeError, "timeout"),
        ({"poll_interval": 0}, ValueError, "poll_interval"),
        ({"on_progress": "print"}, TypeError, "on_progress"),
    ],
)
def test_bad_wait_arguments_fail_before_any_request(
    server: LoopbackServer,
    *,
    mode: str,
    kwargs: dict[str, Any],
    error: type[Exception],
    named: str,
) -> None:
    with pytest.raises(error, match=named):
        call(mode, server.url, "wait", "job-1", **kwargs)
    assert server.requests == []


def test_cancelling_an_async_wait_stops_it_at_once(jobs: Jobs) -> None:
    job = jobs.add(3600.0)

    async def scenario() -> float:
        async with AsyncCortex(api_key=KEY, base_url=jobs.url) as client:
            task = asyncio.create_task(client.queries.wait(job.job_id, poll_interval=0.2))
            await asyncio.sleep(0.7)
            start = time.monotonic()
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
            return time.monotonic() - start

    assert asyncio.run(scenario()) < 0.1
    polled = jobs.gets(job.job_id)
    time.sleep(0.5)
    assert jobs.gets(job.job_id) == polled


def test_ctrl_c_stops_a_sync_wait_at_once(jobs: Jobs) -> None:
    job = jobs.add(3600.0)
    timer = threading.Timer(0.7, signal.raise_signal, args=(signal.SIGINT,))
    timer.start()
    start = time.monotonic()
    with Cortex(api_key=KEY, base_url=jobs.url) as client, pytest.raises(KeyboardInterrupt):
        client.queries.wait(job.job_id, poll_interval=0.2)
    assert time.monotonic() - start < 1.2
    polled = jobs.gets(job.job_id)
    time.sleep(0.5)
    assert jobs.gets(job.job_id) == polled


@pytest.fixture
def many_jobs(jobs: Jobs) -> list[str]:
    return [jobs.add(1.0 + (i % 3)).job_id for i in range(1000)]


@pytest.mark.slow
def test_a_thousand_concurrent_async_waits_finish(jobs: Jobs, many_jobs: list[str]) -> None:
    async def scenario() -> list[QueryBuilderResult]:
        async with AsyncCortex(
            api_key=KEY, base_url=jobs.url, requests_per_minute=600_000
        ) as client:
            return await asyncio.gather(
                *(client.queries.wait(job_id, timeout=90) for job_id in many_jobs)
            )

    threads_before = client_threads()
    start = time.monotonic()
    results = asyncio.run(scenario())
    wall = time.monotonic() - start
    # Peak resident memory of the whole test process (client and server), in MiB.
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(
        f"\n1000 async waits on 1-3 s jobs: {wall:.1f} s wall, process peak RSS "
        f"{peak:.0f} MiB, {jobs.fake.counters.requests_by_method['GET']} GET requests"
    )
    assert all(state.status is QueryStatus.DONE for state in results)
    assert len(client_threads()) <= len(threads_before) + 2  # no thread per wait


def client_threads() -> list[threading.Thread]:
    """The live threads, but the fake server's own ("cortex-fake-conn-N", one per connection,
    which end when the server notices the client has closed it: later than the client's close
    returns)."""
    return [t for t in threading.enumerate() if not t.name.startswith("cortex-fake")]


@pytest.mark.slow  # real-time end to end; the rule itself: test_decisions.py
@pytest.mark.parametrize("mode", MODES)
def test_as_completed_yields_jobs_in_the_order_they_end(jobs: Jobs, mode: str) -> None:
    slow, failing, fast = jobs.add(2.0), jobs.add(1.0, "FAILURE"), jobs.add(0.2)
    ids = [slow.job_id, failing.job_id, fast.job_id]

    if mode == "sync":
        with Cortex(api_key=KEY, base_url=jobs.url) as client:
            outcomes = list(client.queries.as_completed(ids, timeout=30))
    else:

        async def collect() -> list[Any]:
            async with AsyncCortex(api_key=KEY, base_url=jobs.url) as client:
                return [o async for o in client.queries.as_completed(ids, timeout=30)]

        outcomes = asyncio.run(collect())

    assert [o.job_id for o in outcomes] == [fast.job_id, failing.job_id, slow.job_id]
    assert outcomes[0].unwrap().status is QueryStatus.DONE
    assert isinstance(outcomes[1].error, QueryFailedError)
    with pytest.raises(QueryFailedError):
        outcomes[1].unwrap()
    assert outcomes[2].result is not None


@pytest.mark.slow  # real-time end to end; the rule itself: test_decisions.py
@pytest.mark.parametrize("mode", MODES)
def test_a_hold_off_longer_than_the_wait_ends_it_as_a_wait_timeout(
    server: LoopbackServer, mode: str
) -> None:
    """Another call's 429 asked for 30 s of quiet; a 3 s wait cannot be met and says so."""
    limited = {"type": "about:blank", "title": "Too Many Requests", "status": 429}
    server.handler = lambda _r: Reply(
        429, limited, headers={"Retry-After": "30"}, content_type="application/problem+json"
    )

    async def scenario_async() -> tuple[BaseException, float]:
        async with AsyncCortex(api_key=KEY, base_url=server.url, call_timeout=1) as client:
            with pytest.raises(RateLimitError):
                await client.queries.get("job-1")
            start = time.monotonic()
            with pytest.raises(WaitTimeoutError) as caught:
                await client.queries.wait("job-1", timeout=3)
            return caught.value, time.monotonic() - start

    def scenario_sync() -> tuple[BaseException, float]:
        with Cortex(api_key=KEY, base_url=server.url, call_timeout=1) as client:
            with pytest.raises(RateLimitError):
                client.queries.get("job-1")
            start = time.monotonic()
            with pytest.raises(WaitTimeoutError) as caught:
                client.queries.wait("job-1", timeout=3)
            return caught.value, time.monotonic() - start

    error, elapsed = scenario_sync() if mode == "sync" else asyncio.run(scenario_async())
    assert elapsed < 0.5
    assert isinstance(error, WaitTimeoutError)
    assert error.state is None
    assert server.count() == 1  # the wait sent nothing into the hold-off


@pytest.mark.slow  # real-time end to end; the rule itself: test_decisions.py
@pytest.mark.parametrize("mode", MODES)
def test_a_job_that_ends_at_the_deadline_is_returned(jobs: Jobs, mode: str) -> None:
    """The last poll goes at the deadline itself: a job done just in time is not a timeout."""
    job = jobs.add(1.0)
    # Polls at 0, 0.4 and 0.8 s see it running; the next one can only be the one at the deadline.
    state = call(mode, jobs.url, "wait", job.job_id, timeout=1.0, poll_interval=0.4)
    assert state.status is QueryStatus.DONE
    assert jobs.polls(job.job_id)[-1] >= ends_at(job)


def test_a_sync_wait_refuses_an_async_callback_instead_of_dropping_it(
    recwarn: pytest.WarningsRecorder,
) -> None:
    async def on_progress(state: QueryBuilderResult) -> None:
        raise AssertionError("never called")

    with FakeCortex(job_seconds=0) as fake, fake.client() as client:
        with pytest.raises(TypeError, match="coroutine function"):
            client.queries.wait("job-1", on_progress=on_progress)
        assert fake.counters.requests == 0  # refused before anything was sent
        # A plain function that returns a coroutine is only found out when called.
        with pytest.raises(TypeError, match="cannot await"):
            client.queries.run_and_wait("type = 'team'", on_progress=lambda s: on_progress(s))  # noqa: PLW0108
    assert not [w for w in recwarn if "never awaited" in str(w.message)]
