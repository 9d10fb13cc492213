"""Settings, argument checks before any request, and where the API key may (not) appear.

Only 127.0.0.1 and localhost are ever contacted: a client configured for another host is only
constructed, never used.
"""

from __future__ import annotations

import json
import logging
import pickle
from collections.abc import Callable, Iterator
from importlib.metadata import version
from typing import Any
from urllib.parse import unquote

import httpx
import pytest
from cortexio_sdk import (
    APIStatusError,
    APITimeoutError,
    AsyncCortex,
    ConfigurationError,
    Cortex,
    CortexError,
    __version__,
)
from harness import (
    API_KEY,
    IN_PROGRESS,
    JOB_PATH,
    Api,
    Kind,
    assert_key_absent,
    closed_port,
    error_body,
    in_order,
    key_free,
)
from loopback import LoopbackServer, Reply

pytestmark = [pytest.mark.timeout(30), pytest.mark.reliability("security")]

Connect = Callable[..., Api]

MAX_BODY = 2 * 1024 * 1024  # the API's documented limit (2 MB, read as 2 MiB)
BODY_OVERHEAD = len(b'{"query":""}')


@pytest.fixture
def other_server() -> Iterator[LoopbackServer]:
    """A second loopback server: another origin (another port) than `server`."""
    srv = LoopbackServer().start()
    try:
        yield srv
    finally:
        srv.stop()


# -- arguments are checked before anything is sent ----------------------------------------


@pytest.mark.parametrize("job_id", ["", "   ", "\t\n", None, 123, b"job-1", ["job-1"]], ids=repr)
async def test_a_bad_job_id_fails_before_any_request(
    connect: Connect, server: LoopbackServer, job_id: Any
) -> None:
    with pytest.raises((TypeError, ValueError), match="job_id"):
        await connect().get(job_id)
    assert server.count() == 0


@pytest.mark.parametrize(
    "query",
    [
        "",
        "  \n ",
        None,
        42,
        b"tag = 'x'",
        ["tag = 'x'"],
        "x" * (MAX_BODY - BODY_OVERHEAD + 1),
        "é" * ((MAX_BODY - BODY_OVERHEAD) // 2 + 1),  # 2 bytes each in UTF-8
        '"' * ((MAX_BODY - BODY_OVERHEAD) // 2 + 1),  # escaped as \" in the JSON body
    ],
    ids=lambda q: repr(q)[:20],
)
async def test_a_bad_query_fails_before_any_request(
    connect: Connect, server: LoopbackServer, query: Any
) -> None:
    with pytest.raises((TypeError, ValueError), match="query"):
        await connect().run(query)
    assert server.count() == 0


@pytest.mark.parametrize(
    "query",
    [
        "x" * (MAX_BODY - BODY_OVERHEAD),
        "é" * ((MAX_BODY - BODY_OVERHEAD) // 2),
        '"' * ((MAX_BODY - BODY_OVERHEAD) // 2),
    ],
    ids=["ascii", "two-byte", "escaped"],
)
async def test_a_query_of_exactly_the_limit_is_sent(
    connect: Connect, server: LoopbackServer, query: str
) -> None:
    created = {"initiatedAt": "2024-07-29T15:51:28.071Z", "jobId": "job-1", "query": "q"}
    server.handler = lambda _r: Reply(200, created)
    await connect().run(query)
    (received,) = server.requests
    assert len(received.body) == MAX_BODY  # the check counts the bytes actually sent
    assert json.loads(received.body) == {"query": query}


@pytest.mark.parametrize(
    "job_id",
    [
        "a/b",
        "a?b=c",
        "a#b",
        "../../admin",
        "a/../b",
        "a b",
        " leading-and-trailing ",
        "é日本🚀",
        "100%",
        "%2F",
        "a+b&c=d;e",
        "...",
        "..",
        ".",
        "..\\..\\admin",
        "%2e%2e%2f%2e%2e",
        "a\r\nX-Injected: 1",
        "a\x00b",
        "//evil.example/x",
        "https://evil.example/",
        "?api_key=1",
        "#frag",
        ";jsessionid=1",
    ],
)
async def test_a_job_id_is_one_encoded_path_segment(
    connect: Connect, server: LoopbackServer, job_id: str
) -> None:
    server.handler = lambda _r: Reply(200, IN_PROGRESS)
    await connect().get(job_id)
    (received,) = server.requests
    assert received.path.startswith(JOB_PATH)
    segment = received.path[len(JOB_PATH) :]
    assert segment
    for raw in "/?# \\\r\n\x00":
        assert raw not in segment
    assert segment not in {".", ".."}
    assert unquote(segment) == job_id


# -- the key in repr, exceptions and logs -------------------------------------------------


async def test_the_key_is_not_in_repr(connect: Connect) -> None:
    api = connect()
    for text in (repr(api.client), str(api.client), repr(api.client.low_level)):
        assert key_free(text)
    assert "api_key='***'" in repr(api.client)


async def test_the_key_is_not_in_exceptions_or_debug_logs(
    connect: Connect, server: LoopbackServer, caplog: pytest.LogCaptureFixture
) -> None:
    # Every logger at DEBUG: the root, and each existing one in case it has a level of its own.
    caplog.set_level(logging.DEBUG)
    for name in ["cortexio_sdk", "httpx", "httpcore", *logging.root.manager.loggerDict]:
        caplog.set_level(logging.DEBUG, logger=name)
    responses = {
        "retried": in_order(Reply(429, b"", headers={"Retry-After": "0"}), Reply(200, IN_PROGRESS)),
        "unauthorized": lambda _r: Reply(401, error_body("UNCATEGORIZED", "bad key")),
        "server-error": lambda _r: Reply(500, "<html>oops</html>", content_type="text/html"),
        "over-cap": lambda _r: Reply(429, b"", headers={"Retry-After": "9999"}),
        "slow": lambda _r: Reply(200, IN_PROGRESS, delay=1.0),
        "odd-body": lambda _r: Reply(200, b"{not json"),
    }
    server.handler = lambda r: responses[r.path.rsplit("/", 1)[-1]](r)
    api = connect(max_retries=1, timeout=0.3)
    errors: list[BaseException] = []
    await api.get("retried")
    for job_id in ["unauthorized", "server-error", "over-cap", "slow", "odd-body"]:
        with pytest.raises(CortexError) as caught:
            await api.get(job_id)
        errors.append(caught.value)
    refused = connect(base_url=f"http://127.0.0.1:{closed_port()}", max_retries=1)
    with pytest.raises(CortexError) as caught:
        await refused.get("job-1")
    errors.append(caught.value)
    for bad in (None, "x" * (MAX_BODY + 1)):
        with pytest.raises((TypeError, ValueError)) as caught_input:
            await api.run(bad)
        errors.append(caught_input.value)

    # The key was really sent (the test would pass vacuously otherwise)...
    assert all(r.headers["authorization"] == f"Bearer {API_KEY}" for r in server.requests)
    assert len(errors) == 8
    assert any(isinstance(e, APIStatusError) for e in errors)
    # ...and appears in no exception, its causes or its traceback...
    # ...nor in any log record of any logger, at any level.
    assert any(r.name.startswith(("httpcore", "httpx")) for r in caplog.records)
    assert any(r.name == "cortexio_sdk" for r in caplog.records)
    for error in errors:
        assert_key_absent(error, caplog.records)
    assert key_free(caplog.text)


def test_a_key_with_whitespace_is_refused_without_echoing_it() -> None:
    bad_key = "ck live secret-value"
    with pytest.raises(ConfigurationError) as caught:
        Cortex(api_key=bad_key, base_url="http://127.0.0.1:1")
    assert "secret-value" not in str(caught.value)
    assert "api_key" in str(caught.value)


# -- plain http only to this machine ------------------------------------------------------


@pytest.mark.parametrize(
    "base_url",
    [
        "http://example.com",
        "http://api.getcortexapp.com",
        "http://localhost.example.com",
        "http://10.0.0.8:8080",
        "http://0.0.0.0",
    ],
)
@pytest.mark.parametrize("client_class", [Cortex, AsyncCortex])
def test_plain_http_to_another_host_is_refused(
    client_class: type[Cortex | AsyncCortex], base_url: str
) -> None:
    with pytest.raises(ConfigurationError, match="allow_insecure_http"):
        client_class(api_key=API_KEY, base_url=base_url)
    # The caller can opt in; constructing sends nothing (the client is never used here).
    client = client_class(api_key=API_KEY, base_url=base_url, allow_insecure_http=True)
    assert client.base_url == base_url
    assert key_free(repr(client))


def test_plain_http_from_the_environment_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CORTEX_BASE_URL", "http://example.com")
    with pytest.raises(ConfigurationError, match="CORTEX_BASE_URL"):
        Cortex(api_key=API_KEY)


@pytest.mark.parametrize(
    "base_url",
    [
        "http://127.0.0.1:1",
        "http://127.0.0.5:8080",
        "http://localhost:1",
        "http://[::1]:1",
        "https://example.com",
        "https://cortex.internal.example:8443/base",
    ],
)
def test_https_and_loopback_http_are_allowed(base_url: str) -> None:
    with Cortex(api_key=API_KEY, base_url=base_url) as client:
        assert client.base_url == base_url


async def test_loopback_http_is_used(connect: Connect, server: LoopbackServer) -> None:
    server.handler = lambda _r: Reply(200, IN_PROGRESS)
    await connect(base_url=server.url).get("job-1")
    assert server.requests[0].headers["authorization"] == f"Bearer {API_KEY}"


# -- redirects ----------------------------------------------------------------------------


def own_http_client(kind: Kind) -> httpx.Client | httpx.AsyncClient:
    if kind == "sync":
        return httpx.Client(follow_redirects=True)
    return httpx.AsyncClient(follow_redirects=True)


async def close_http_client(http: httpx.Client | httpx.AsyncClient) -> None:
    if isinstance(http, httpx.Client):
        http.close()  # noqa: ASYNC212 - the sync client is driven from the loop on purpose
    else:
        await http.aclose()


@pytest.mark.parametrize("target", ["other-port", "localhost", "same-origin"])
async def test_the_key_is_not_sent_on_a_cross_origin_redirect(
    connect: Connect,
    kind: Kind,
    server: LoopbackServer,
    other_server: LoopbackServer,
    target: str,
) -> None:
    destinations = {
        "other-port": (other_server, f"{other_server.url}{JOB_PATH}moved"),
        "localhost": (server, f"http://localhost:{server.port}{JOB_PATH}moved"),
        "same-origin": (server, f"{server.url}{JOB_PATH}moved"),
    }
    landing, location = destinations[target]

    def handler(request: Any) -> Reply:
        if request.path.endswith("/moved"):
            return Reply(200, IN_PROGRESS)
        return Reply(307, b"", headers={"Location": location})

    server.handler = other_server.handler = handler
    http = own_http_client(kind)
    try:
        await connect(http_client=http).get("job-1")
    finally:
        await close_http_client(http)

    first = server.requests[0]
    assert first.path == f"{JOB_PATH}job-1"
    assert first.headers["authorization"] == f"Bearer {API_KEY}"
    moved = [r for r in landing.requests if r.path.endswith("/moved")]
    assert len(moved) == 1
    if target == "same-origin":
        assert moved[0].headers["authorization"] == f"Bearer {API_KEY}"
    else:
        assert "authorization" not in moved[0].headers
        assert all(key_free(value) for value in moved[0].headers.values())


async def test_an_explicit_timeout_is_not_ignored_with_a_callers_http_client(
    connect: Connect, kind: Kind, server: LoopbackServer
) -> None:
    server.handler = lambda _r: Reply(200, IN_PROGRESS, delay=1.0)
    http = own_http_client(kind)  # httpx's default timeout: 5 s
    try:
        with pytest.raises((ConfigurationError, APITimeoutError)):
            await connect(http_client=http, timeout=0.2, max_retries=0).get("job-1")
    finally:
        await close_http_client(http)


# -- where the key comes from -------------------------------------------------------------


@pytest.mark.parametrize("client_class", [Cortex, AsyncCortex])
@pytest.mark.parametrize("value", [None, "", "   "])
def test_a_missing_key_names_the_variable(
    monkeypatch: pytest.MonkeyPatch, client_class: type[Cortex | AsyncCortex], value: str | None
) -> None:
    if value is None:
        monkeypatch.delenv("CORTEX_API_KEY", raising=False)
    else:
        monkeypatch.setenv("CORTEX_API_KEY", value)
    with pytest.raises(ConfigurationError, match="CORTEX_API_KEY"):
        client_class(base_url="http://127.0.0.1:1")


def test_a_configuration_error_keeps_its_remedy_apart(monkeypatch: pytest.MonkeyPatch) -> None:
    # So that a front end (the CLI) can word the fix in its own flags and variables.
    monkeypatch.delenv("CORTEX_API_KEY", raising=False)
    with pytest.raises(ConfigurationError) as missing:
        Cortex()
    assert (missing.value.setting, missing.value.problem) == ("api_key", "no Cortex API key")
    assert str(missing.value) == f"no Cortex API key; {missing.value.remedy}"
    assert "api_key=" in str(missing.value.remedy)

    with pytest.raises(ConfigurationError) as insecure:
        Cortex(api_key="k", base_url="http://cortex.example")
    assert insecure.value.setting == "allow_insecure_http"
    assert insecure.value.remedy == "use https, or pass allow_insecure_http=True"
    assert pickle.loads(pickle.dumps(insecure.value)).remedy == insecure.value.remedy


async def test_key_and_base_url_from_the_environment(
    connect: Connect, server: LoopbackServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CORTEX_API_KEY", "ck_from_env_123")
    monkeypatch.setenv("CORTEX_BASE_URL", server.url)
    server.handler = lambda _r: Reply(200, IN_PROGRESS)
    await connect(api_key=None, base_url=None).get("job-1")
    assert server.requests[0].headers["authorization"] == "Bearer ck_from_env_123"


def test_the_default_base_url(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CORTEX_BASE_URL", raising=False)
    with Cortex(api_key=API_KEY) as client:
        assert client.base_url == "https://api.getcortexapp.com"


@pytest.mark.parametrize(
    ("setting", "value"),
    [
        ("max_retries", -1),
        ("max_retries", 1.5),
        ("timeout", 0),
        ("requests_per_minute", 0),
        ("requests_per_minute", float("nan")),
        ("max_retry_after", -1),
        ("call_timeout", 0),
        ("base_url", "ftp://127.0.0.1"),
        ("base_url", "not a url"),
        ("base_url", "https://example.com/?a=b"),
    ],
)
def test_a_bad_setting_is_named(setting: str, value: Any) -> None:
    settings: dict[str, Any] = {"api_key": API_KEY, "base_url": "http://127.0.0.1:1"}
    settings[setting] = value
    with pytest.raises(ConfigurationError, match=setting):
        Cortex(**settings)


# -- User-Agent ---------------------------------------------------------------------------


async def test_the_user_agent_names_the_sdk_and_its_version(
    connect: Connect, server: LoopbackServer
) -> None:
    server.handler = lambda _r: Reply(200, IN_PROGRESS)
    await connect().get("job-1")
    assert __version__ == version("cortexio-sdk")
    assert server.requests[0].headers["user-agent"].startswith(f"cortexio-sdk/{__version__}")


async def test_the_user_agent_keeps_the_callers_own(
    connect: Connect, kind: Kind, server: LoopbackServer
) -> None:
    server.handler = lambda _r: Reply(200, IN_PROGRESS)
    http = own_http_client(kind)
    http.headers["User-Agent"] = "payments-service/2.3"
    try:
        await connect(http_client=http).get("job-1")
    finally:
        await close_http_client(http)
    agent = server.requests[0].headers["user-agent"]
    assert agent.startswith(f"cortexio-sdk/{__version__}")
    assert agent.endswith("payments-service/2.3")
