"""A minimal HTTP/1.1 keep-alive server on 127.0.0.1 answering canned Cortex bodies.

For the figures where the fake Cortex (a thread per connection, BaseHTTPRequestHandler) would
cost more per request than the clients being compared: cost per call, parsing and scale.
`GET /api/v1/queries/done-N` answers a DONE result of N entities (N given with --entities);
`GET /api/v1/queries/timed-START-SECONDS` a job that started at time.monotonic() START (this
machine's clock, which every process shares) and runs SECONDS: IN_PROGRESS with its progress,
then DONE; any other GET answers an IN_PROGRESS state. Prints CORTEX_BASE_URL=... once
listening.

    python -m benchmarks.rawserver --entities 10000 100000
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from typing import Any

DETAILS = {
    "initiatedAt": "2026-01-05T10:00:00.000Z",
    "jobId": "bench",
    "query": "type = 'service'",
}
RUNNING = {"progress": 0.5, "queryDetails": DETAILS, "status": "IN_PROGRESS"}


def entities(count: int) -> list[dict[str, str]]:
    """`count` catalog entities, shaped like the fake's (half of them with a description)."""
    result = []
    for i in range(count):
        entity = {"name": f"service-{i:06d}", "tag": f"svc-{i:06d}", "type": "service"}
        if i % 2 == 0:
            entity["description"] = f"Service number {i}, owned by team {i % 97}"
        result.append(entity)
    return result


def done(count: int) -> dict[str, Any]:
    return {"progress": 1.0, "queryDetails": DETAILS, "result": entities(count), "status": "DONE"}


def response(body: dict[str, Any]) -> bytes:
    data = json.dumps(body, separators=(",", ":")).encode()
    head = (
        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(data)}\r\nConnection: keep-alive\r\n\r\n"
    )
    return head.encode() + data


class _Protocol(asyncio.Protocol):
    def __init__(self, canned: dict[bytes, bytes], running: bytes) -> None:
        self.canned = canned
        self.running = running
        self.buffer = b""
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        while (end := self.buffer.find(b"\r\n\r\n")) >= 0:
            head, self.buffer = self.buffer[:end], self.buffer[end + 4 :]
            target = head.split(b" ", 2)[1]
            job = target.rsplit(b"/", 1)[-1]
            assert self.transport is not None
            if job.startswith(b"timed-"):
                self.transport.write(_timed(job.decode()))
            else:
                self.transport.write(self.canned.get(job, self.running))


def _timed(job: str) -> bytes:
    """The state of a job named timed-START-SECONDS (see the module docstring)."""
    _, start, seconds = job.split("-")
    ran = (time.monotonic() - float(start)) / float(seconds)
    details = {**DETAILS, "jobId": job}
    if ran >= 1:
        return response({"progress": 1.0, "queryDetails": details, "result": [], "status": "DONE"})
    progress = round(max(ran, 0.0), 3)
    return response({"progress": progress, "queryDetails": details, "status": "IN_PROGRESS"})


async def serve(sizes: list[int]) -> None:
    canned = {f"done-{n}".encode(): response(done(n)) for n in sizes}
    running = response(RUNNING)
    loop = asyncio.get_running_loop()
    server = await loop.create_server(lambda: _Protocol(canned, running), "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    print(f"CORTEX_BASE_URL=http://127.0.0.1:{port}", flush=True)
    async with server:
        await server.serve_forever()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--entities", type=int, nargs="*", default=[])
    asyncio.run(serve(parser.parse_args().entities))


if __name__ == "__main__":
    main()
