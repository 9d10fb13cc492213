"""Figure 3, polling: how late `wait()` notices a job's end, and how many requests it sends.

Against a fixed 2 s poller (what Cortex's own CLI does): GET, and if not DONE sleep 2 s, again.
A poller started with its job and polling every 2 s notices a job of exactly 20 s within
milliseconds, and one of 21 s a second late: so each length L is run as four jobs, of L+0.25,
L+0.75, L+1.25 and L+1.75 s (a 2 s poller is then late by 1.75, 1.25, 0.75 and 0.25 s: 1 s on
average, as for jobs of any length), and the figures are means over the four. Every job runs at
once on one fake Cortex process (benchmarks.fakejobs), each client on its own query, one thread
per wait.

Lateness: the time `wait()` returns minus the job's end: its `initiatedAt` (the fake's clock is
this machine's, to the millisecond) plus its length.
"""

from __future__ import annotations

import datetime as dt
import statistics
import threading
import time
from typing import Any

import httpx
from cortexio_sdk import Cortex, QueryStatus

from ._common import API_KEY, check, emit, quick_flag, server

PHASES = (0.25, 0.75, 1.25, 1.75)
FIXED_INTERVAL = 2.0


def _timestamp(initiated_at: str) -> float:
    return dt.datetime.fromisoformat(initiated_at.replace("Z", "+00:00")).timestamp()


def _counting_client(counter: list[int]) -> httpx.Client:
    def count(request: httpx.Request) -> None:
        if request.method == "GET":
            counter[0] += 1

    return httpx.Client(event_hooks={"request": [count]})


def sdk_wait(url: str, query: str, seconds: float) -> tuple[float, int]:
    gets = [0]
    with (
        _counting_client(gets) as http,
        Cortex(api_key=API_KEY, base_url=url, http_client=http) as client,
    ):
        job = client.queries.run(query)
        ends = job.initiated_at.timestamp() + seconds
        state = client.queries.wait(job.job_id, timeout=seconds + 60)
        late = time.time() - ends
        check(state.status is QueryStatus.DONE, f"SDK wait on {query}: {state.status}")
    return late, gets[0]


def fixed_wait(url: str, query: str, seconds: float) -> tuple[float, int]:
    gets = 0
    headers = {"Authorization": f"Bearer {API_KEY}"}
    with httpx.Client(base_url=url, headers=headers) as http:
        response = http.post("/api/v1/queries", json={"query": query})
        response.raise_for_status()
        job_id = response.json()["jobId"]
        ends = _timestamp(response.json()["initiatedAt"]) + seconds
        deadline = time.monotonic() + seconds + 60
        while time.monotonic() < deadline:
            gets += 1
            state = http.get(f"/api/v1/queries/{job_id}").json()
            if state["status"] == "DONE":
                return time.time() - ends, gets
            time.sleep(FIXED_INTERVAL)
    raise AssertionError(f"fixed poller: job on {query} not DONE within 60 s of its end")


def main() -> None:
    quick = quick_flag()
    lengths = (1.0, 5.0) if quick else (1.0, 5.0, 20.0, 60.0)
    cases = [(length, phase) for length in lengths for phase in PHASES]
    queries = {
        (who, length, phase): f"tag = 'bench-{who}-{length:g}-{phase:g}'"
        for who in ("sdk", "fixed")
        for length, phase in cases
    }
    args = ["-m", "benchmarks.fakejobs"]
    for (_who, length, phase), query in queries.items():
        args += ["--job", f"{query}={length + phase}"]
    outcomes: dict[tuple[str, float, float], tuple[float, int]] = {}
    errors: list[BaseException] = []

    def one(key: tuple[str, float, float]) -> None:
        who, length, phase = key
        waiter = sdk_wait if who == "sdk" else fixed_wait
        try:
            outcomes[key] = waiter(url, queries[key], length + phase)
        except BaseException as exc:
            errors.append(exc)

    with server(args) as url:
        threads = [threading.Thread(target=one, args=(key,)) for key in queries]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    if errors:
        raise errors[0]
    rows: list[dict[str, Any]] = []
    for length in lengths:
        row: dict[str, Any] = {"seconds": length}
        for who in ("sdk", "fixed"):
            picked = [outcomes[(who, length, phase)] for phase in PHASES]
            row[f"{who}_late_s"] = statistics.mean(late for late, _ in picked)
            row[f"{who}_late_max_s"] = max(late for late, _ in picked)
            row[f"{who}_gets"] = statistics.mean(gets for _, gets in picked)
            check(all(late >= -0.01 for late, _ in picked), f"{who}: DONE before the job's end")
        rows.append(row)
    emit({"phases": list(PHASES), "lengths": rows})


if __name__ == "__main__":
    main()
