"""An operation added to the spec tomorrow gets retry, auth and typed errors with no wrapper edit.

End to end: copy openapi.yaml, add `GET /api/v1/queries/{jobId}/summary` (getQuerySummary),
run the pinned generator with the repository's config and templates (scripts/generate.py, as
`nox -s generate` does) into a temporary folder under another package name, import the result,
and call the new
operation through a `Cortex` client's httpx client against a loopback server that answers 429
first. Nothing in cortexio_sdk knows the operation exists.
"""

from __future__ import annotations

import importlib
import re
import subprocess
import sys
import time
import tomllib
from collections.abc import Iterator
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any

import generate
import pytest
from cortexio_sdk import AsyncCortex, Cortex, NotFoundError
from harness import API_KEY, Kind, error_body, problem_body
from loopback import LoopbackServer, Received, Reply

if TYPE_CHECKING:
    from otel_capture import Captured

# The `otel` fixture: the OpenTelemetry SDK with in-memory exporters, for one test.
pytest_plugins = ["otel_capture"]
pytestmark = pytest.mark.timeout(120)

ROOT = Path(__file__).resolve().parents[1]
SPEC = ROOT / "openapi.yaml"
CONFIG = ROOT / "generator-config.yaml"
TEMPLATES = ROOT / "templates"
PYPROJECT = ROOT / "pyproject.toml"
GENERATOR = "openapi-python-client"
PACKAGE = "cortex_api_client_with_summary"  # not cortex_api_client: the installed one stays

NEW_OPERATION = """\
  /api/v1/queries/{jobId}/summary:
    get:
      tags:
        - Queries
      summary: Summarise a query job
      description: How many entities a query job found so far.
      operationId: getQuerySummary
      parameters:
        - name: jobId
          in: path
          required: true
          schema:
            type: string
      responses:
        '200':
          description: The summary
          content:
            application/json:
              schema:
                $ref: '#/components/schemas/QuerySummary'
        '404':
          description: Query not found
          content:
            application/json:
              schema:
                $ref: '#/components/schemas/ErrorResponse'
        '429':
          $ref: '#/components/responses/TooManyRequests'
"""
NEW_SCHEMA = """\
    QuerySummary:
      type: object
      required:
        - jobId
        - entityCount
      properties:
        jobId:
          type: string
        entityCount:
          type: integer
          format: int32
        type:
          type: string
        format:
          type: string
        filter:
          type: string
        class:
          type: string
        str:
          type: string
"""


def _pinned_generator() -> str:
    """The generator version the `generate` dependency group pins, or skip when it is not
    installed here at that version."""
    pytest.importorskip(
        "openapi_python_client",
        reason="the generator is not installed; add openapi-python-client to the test group",
    )
    if not (SPEC.exists() and PYPROJECT.exists() and TEMPLATES.is_dir()):
        pytest.skip("needs the repository's openapi.yaml, templates/ and pyproject.toml")
    groups = tomllib.loads(PYPROJECT.read_text())["dependency-groups"]
    pins = [d for d in groups["generate"] if isinstance(d, str) and d.startswith(GENERATOR)]
    assert len(pins) == 1, "the generate dependency group no longer pins the generator"
    pinned = pins[0].removeprefix(f"{GENERATOR}==")
    try:
        installed = version(GENERATOR)
    except PackageNotFoundError:
        pytest.skip("openapi-python-client is importable but not installed as a distribution")
    if installed != pinned:
        pytest.skip(f"openapi-python-client {installed} is installed; pyproject pins {pinned}")
    return installed


def _insert_after(text: str, anchor: str, block: str) -> str:
    assert text.count(anchor) == 1, f"the spec no longer has exactly one {anchor!r}"
    return text.replace(anchor, anchor + block)


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ModuleType]:
    """The new operation's module, generated from a modified copy of the spec."""
    _pinned_generator()
    scratch = tmp_path_factory.mktemp("regenerated")
    spec = _insert_after(SPEC.read_text(), "\npaths:\n", NEW_OPERATION)
    spec = _insert_after(spec, "\n  schemas:\n", NEW_SCHEMA)
    (scratch / "openapi.yaml").write_text(spec)
    config = CONFIG.read_text()
    for key in ("package_name_override", "project_name_override"):
        config, count = re.subn(rf"^{key}: .*$", f"{key}: {PACKAGE}", config, flags=re.MULTILINE)
        assert count == 1, f"generator-config.yaml no longer sets {key}"
    (scratch / "generator-config.yaml").write_text(config)

    root = scratch / "site"
    command = generate.command(
        root / PACKAGE,
        spec=scratch / "openapi.yaml",
        config=scratch / "generator-config.yaml",
    )
    result = subprocess.run(
        command, capture_output=True, text=True, env=generate.environment(), check=False
    )
    assert result.returncode == 0, f"the generator failed:\n{result.stdout}\n{result.stderr}"

    sys.path.insert(0, str(root))
    try:
        yield importlib.import_module(f"{PACKAGE}.api.queries.get_query_summary")
    finally:
        sys.path.remove(str(root))
        for name in [n for n in sys.modules if n == PACKAGE or n.startswith(f"{PACKAGE}.")]:
            del sys.modules[name]


def _script(server: LoopbackServer) -> None:
    """429 (Retry-After: 1) on the first request, then the summary; 404 for job `missing`."""

    def handler(request: Received) -> Reply:
        if "/missing/" in request.path:
            return Reply(404, error_body("NOT_FOUND", "no such job", request_id="req-404"))
        if server.count() == 1:
            return Reply(
                429,
                problem_body(1),
                headers={"Retry-After": "1"},
                content_type="application/problem+json",
            )
        return Reply(200, {"jobId": "job-1", "entityCount": 3})

    server.handler = handler


def _check(server: LoopbackServer, response: Any) -> None:
    assert response.status_code == 200
    summary = response.parsed
    assert type(summary).__module__.startswith(f"{PACKAGE}.models")
    assert (summary.job_id, summary.entity_count) == ("job-1", 3)
    first, second = server.requests[:2]
    assert first.path == second.path == "/api/v1/queries/job-1/summary"
    assert second.at - first.at >= 0.9  # the Retry-After was waited out
    for request in (first, second):
        assert request.headers["authorization"] == f"Bearer {API_KEY}"
        assert request.headers["user-agent"].startswith("cortexio-sdk/")


@pytest.mark.parametrize("via", ["low_level", "new_client"])
async def test_a_regenerated_operation_is_retried_on_429(
    generated: ModuleType, server: LoopbackServer, kind: Kind, via: str
) -> None:
    _script(server)
    package = importlib.import_module(PACKAGE)
    started = time.monotonic()
    if kind == "sync":
        with Cortex(api_key=API_KEY, base_url=server.url) as cortex:
            # Either the wrapper's own low-level client (the operation only asks it for its
            # httpx client), or the new package's client handed the same httpx client.
            client = cortex.low_level
            if via == "new_client":
                client = package.AuthenticatedClient(base_url=server.url, token="")
                client.set_httpx_client(cortex.low_level.get_httpx_client())
            response = generated.sync_detailed("job-1", client=client)
            with pytest.raises(NotFoundError) as caught:
                generated.sync_detailed("missing", client=client)
    else:
        async with AsyncCortex(api_key=API_KEY, base_url=server.url) as acortex:
            client = acortex.low_level
            if via == "new_client":
                client = package.AuthenticatedClient(base_url=server.url, token="")
                client.set_async_httpx_client(acortex.low_level.get_async_httpx_client())
            response = await generated.asyncio_detailed("job-1", client=client)
            with pytest.raises(NotFoundError) as caught:
                await generated.asyncio_detailed("missing", client=client)
    assert time.monotonic() - started < 5
    _check(server, response)
    assert server.count() == 3
    assert caught.value.request_id == "req-404"


async def test_a_regenerated_operation_is_traced_under_its_operation_id(
    generated: ModuleType, server: LoopbackServer, kind: Kind, otel: Captured
) -> None:
    _script(server)
    if kind == "sync":
        with Cortex(api_key=API_KEY, base_url=server.url) as cortex:
            generated.sync_detailed("job-1", client=cortex.low_level)
    else:
        async with AsyncCortex(api_key=API_KEY, base_url=server.url) as acortex:
            await generated.asyncio_detailed("job-1", client=acortex.low_level)

    span = otel.one("getQuerySummary")
    assert span.attributes is not None
    assert span.attributes["url.template"] == "/api/v1/queries/{jobId}/summary"
    assert span.attributes["cortex.attempts"] == 2
    attempts = otel.children(span)
    assert [a.name for a in attempts] == ["GET /api/v1/queries/{jobId}/summary"] * 2
    assert [(a.attributes or {}).get("http.response.status_code") for a in attempts] == [429, 200]
    assert otel.total("cortex.client.retries", cortex__operation="getQuerySummary") == 1


def test_fields_named_like_builtins_keep_their_names(generated: ModuleType) -> None:
    """The templates decide attribute names for every model of every future operation."""
    summary_class = importlib.import_module(f"{PACKAGE}.models").QuerySummary
    body = {"jobId": "j", "entityCount": 3, "type": "t", "format": "f", "filter": "x"}
    body |= {"class": "c", "str": "s"}

    summary = summary_class.from_dict(body)

    assert (summary.type, summary.format, summary.filter) == ("t", "f", "x")
    # A keyword cannot be an attribute, and `str` is used by the class body's annotations.
    assert (summary.class_, summary.str_) == ("c", "s")
    assert summary.to_dict() == body
    assert summary_class(job_id="j", entity_count=1, type="t").type == "t"
    # An absent optional field shows as UNSET, not as <... object at 0x...>.
    bare = repr(summary_class.from_dict({"jobId": "j", "entityCount": 1}))
    assert "type=UNSET" in bare
    assert " object at 0x" not in bare
