"""The socket-level fault matrix: every fault ends in time as a connection or timeout error.

Scenarios (tests/support/faultserver.py) x GET and POST x sync and async. Each call must end
within the call's deadline (plus a generous margin) as APIConnectionError or APITimeoutError; a
POST is never sent twice once the server may have received it (counted server-side); and the API
key appears in no exception, traceback or log record, even with every logger at DEBUG.
"""

from __future__ import annotations

import logging
import time

import pytest
from cortexio_sdk import APIConnectionError, APITimeoutError
from faultserver import SCENARIOS, FaultServer
from harness import API_KEY, Api, Kind, assert_key_absent, closed_port

pytestmark = [pytest.mark.timeout(30), pytest.mark.reliability("faults"), pytest.mark.slow]

CALL_TIMEOUT = 1.2
READ_TIMEOUT = 0.3
MAX_RETRIES = 1
# Generous: a loaded CI machine may be slow to schedule threads, never by whole seconds.
MARGIN = 1.5

TIMING_OUT = {"trickle-headers", "never-answer"}


@pytest.fixture(autouse=True)
def debug_logs(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    caplog.set_level(logging.DEBUG)
    for name in ["cortexio_sdk", "httpx", "httpcore", *logging.root.manager.loggerDict]:
        caplog.set_level(logging.DEBUG, logger=name)
    return caplog


async def call(api: Api, method: str) -> None:
    if method == "GET":
        await api.get("job-1")
    else:
        await api.run("tag = 'payments'")


def client(kind: Kind, base_url: str) -> Api:
    return Api(
        kind,
        api_key=API_KEY,
        base_url=base_url,
        timeout=READ_TIMEOUT,
        call_timeout=CALL_TIMEOUT,
        max_retries=MAX_RETRIES,
    )


@pytest.mark.parametrize("method", ["GET", "POST"])
@pytest.mark.parametrize("scenario", sorted(SCENARIOS))
async def test_a_fault_ends_in_time_as_a_typed_error(
    kind: Kind, method: str, scenario: str, caplog: pytest.LogCaptureFixture
) -> None:
    with FaultServer(SCENARIOS[scenario]).running() as server:
        api = client(kind, server.url)
        start = time.monotonic()
        try:
            with pytest.raises(APIConnectionError) as caught:
                await call(api, method)
            elapsed = time.monotonic() - start
        finally:
            await api.close()
        sent = server.count()
        raw = server.requests()

    error = caught.value
    if scenario in TIMING_OUT:
        assert isinstance(error, APITimeoutError), repr(error)
    else:
        assert not isinstance(error, APITimeoutError), repr(error)
    assert elapsed <= CALL_TIMEOUT + MARGIN, f"{scenario}: {elapsed:.2f} s"
    assert sent >= 1
    if method == "POST":
        assert sent == 1, f"POST sent {sent} times after the server received it"
    elif scenario not in TIMING_OUT:
        assert sent == MAX_RETRIES + 1  # quick failures of a GET are retried
    # The key really went out, and went nowhere else.
    assert all(f"Bearer {API_KEY}".encode() in r for r in raw)
    assert_key_absent(error, caplog.records)


@pytest.mark.parametrize("method", ["GET", "POST"])
async def test_connection_refused_ends_as_a_connection_error(
    kind: Kind, method: str, caplog: pytest.LogCaptureFixture
) -> None:
    api = client(kind, f"http://127.0.0.1:{closed_port()}")
    start = time.monotonic()
    try:
        with pytest.raises(APIConnectionError) as caught:
            await call(api, method)
    finally:
        await api.close()
    elapsed = time.monotonic() - start
    assert not isinstance(caught.value, APITimeoutError)
    assert elapsed <= CALL_TIMEOUT + MARGIN
    assert "ConnectError" in str(caught.value)
    assert_key_absent(caught.value, caplog.records)
