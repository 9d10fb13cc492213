"""Query jobs that take a set time, served through tests/loopback.py's scripted server.

POST /api/v1/queries with a query like "duration=5 outcome=FAILURE" starts a job that reports
IN_PROGRESS (progress rising from 0 to 1) for `duration` seconds, then `outcome` (DONE by
default). Tests may also add jobs directly with `Jobs.add`.
"""

from __future__ import annotations

import json
import threading
import time
from collections import Counter
from dataclasses import dataclass
from urllib.parse import unquote

from loopback import Received, Reply

INITIATED_AT = "2024-07-29T15:51:28.071Z"


@dataclass
class Job:
    job_id: str
    query: str
    duration: float
    outcome: str
    started: float

    @property
    def ends_at(self) -> float:
        return self.started + self.duration


class Jobs:
    """A handler for LoopbackServer: `server.handler = Jobs()`."""

    def __init__(self) -> None:
        self.jobs: dict[str, Job] = {}
        self.gets: Counter[str] = Counter()
        self.last_get: dict[str, float] = {}
        self._lock = threading.Lock()
        self._next = 0

    def add(self, duration: float, outcome: str = "DONE", job_id: str | None = None) -> Job:
        with self._lock:
            self._next += 1
            job = Job(job_id or f"job-{self._next}", "", duration, outcome, time.monotonic())
            self.jobs[job.job_id] = job
            return job

    def __call__(self, request: Received) -> Reply:
        if request.method == "POST":
            query = json.loads(request.body)["query"]
            settings = dict(part.split("=", 1) for part in query.split() if "=" in part)
            job = self.add(float(settings.get("duration", 0)), settings.get("outcome", "DONE"))
            job.query = query
            return Reply(200, self.details(job))
        job_id = unquote(request.path.rsplit("/", 1)[1])
        with self._lock:
            job = self.jobs.get(job_id)
            self.gets[job_id] += 1
            self.last_get[job_id] = time.monotonic()
        if job is None:
            return Reply(404, {"message": f"Query {job_id} not found", "type": "NOT_FOUND"})
        return Reply(200, self.state(job))

    @staticmethod
    def details(job: Job) -> dict[str, str]:
        return {"initiatedAt": INITIATED_AT, "jobId": job.job_id, "query": job.query}

    def state(self, job: Job) -> dict[str, object]:
        elapsed = time.monotonic() - job.started
        if elapsed < job.duration:
            progress = round(elapsed / job.duration, 2) if job.duration else 0
            return {
                "queryDetails": self.details(job),
                "status": "IN_PROGRESS",
                "progress": progress,
            }
        entities = [{"name": "Payments API", "tag": "payments-api", "type": "service"}]
        body: dict[str, object] = {
            "queryDetails": self.details(job),
            "status": job.outcome,
            "progress": 1,
        }
        if job.outcome == "DONE":
            body["result"] = entities
        return body
