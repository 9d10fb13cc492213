"""The forward-compatibility promises on the path the SDK parses with: a large result through
`client.queries.get()`, parsed by the generated operation with the garbage collector paused.

A status newer than the spec becomes an unlisted member (`.is_known` False), and keys the spec
does not list land in `additional_properties`, at every level of the result, as they do on a
small body (tests/test_generated_client.py)."""

from __future__ import annotations

import contextlib
import gc
from collections.abc import Callable, Iterator

import pytest
from cortex_api_client.api.queries import get_query_results
from cortexio_sdk import QueryStatus
from harness import DETAILS, Api
from loopback import LoopbackServer, Reply

# Enough models to trigger many collections if the collector ran during the parse.
ENTITIES = 5_000


def _body() -> dict[str, object]:
    entities: list[dict[str, object]] = []
    for i in range(ENTITIES):
        entity: dict[str, object] = {"name": f"svc-{i}", "tag": f"t{i}", "type": "service"}
        if i % 10 == 0:
            entity["owner"] = {"team": f"team-{i % 7}"}
        entities.append(entity)
    return {
        "queryDetails": {**DETAILS, "region": "eu"},
        "status": "ARCHIVED",
        "progress": 1.0,
        "result": entities,
        "cursor": "next-page",
    }


async def test_a_large_result_keeps_unknown_values_with_the_collector_paused(
    connect: Callable[..., Api], server: LoopbackServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    paused: list[bool] = []
    real = get_query_results.collector_paused

    @contextlib.contextmanager
    def watched(body_size: int) -> Iterator[None]:
        with real(body_size):
            paused.append(not gc.isenabled())
            yield

    monkeypatch.setattr(get_query_results, "collector_paused", watched)
    server.handler = lambda _r: Reply(200, _body())

    state = await connect().get("job-1")

    assert paused == [True], "the result was not parsed inside collector_paused()"
    assert gc.isenabled()
    assert isinstance(state.status, QueryStatus)
    assert state.status == "ARCHIVED"
    assert not state.status.is_known
    assert state.additional_properties == {"cursor": "next-page"}
    assert state.query_details.additional_properties == {"region": "eu"}
    assert state.query_details.job_id == "job-1"
    assert isinstance(state.result, list)
    assert len(state.result) == ENTITIES
    owners = [e.additional_properties for e in state.result if e.additional_properties]
    assert owners == [{"owner": {"team": f"team-{i % 7}"}} for i in range(0, ENTITIES, 10)]
    assert state.result[-1].name == f"svc-{ENTITIES - 1}"
