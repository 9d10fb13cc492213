"""Schemathesis against the fake Cortex: the plain fake, then the fake with faults switched on.

    python scripts/schemathesis_run.py [ST_RUN_OPTIONS...]     (what `nox -s schemathesis` runs)

Each scenario starts a `FakeCortex` in this process, runs `st run openapi.yaml` against it with
every phase (examples, coverage, fuzzing, stateful through the createQuery -> getQueryResults
link) and every check, using tests/schemathesis/schemathesis.toml, and fails on any failure or on
a "missing test data" warning. The fake's own record then says how far the run got: jobs
started, and jobs polled after their end (the stateful phase reached DONE, or the scripted
status). Schemathesis prints its figures (cases generated, phases, failures); a summary of
every scenario follows at the end.

A fault the spec documents (429 with Retry-After and problem+json; jobs that end FAILURE,
CANCELLED or TIMED_OUT) must pass every check. What the spec does not document on purpose is
excluded by name, with the reason, in `Scenario.excluded` below.
"""

from __future__ import annotations

import math
import re
import subprocess
import sys
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from cortexio_sdk.testing import FakeCortex

ROOT = Path(__file__).resolve().parent.parent
CONFIG = ROOT / "tests" / "schemathesis" / "schemathesis.toml"
SPEC = ROOT / "openapi.yaml"
KEY = "schemathesis-key"


@dataclass(frozen=True)
class Scenario:
    name: str
    arrange: Callable[[FakeCortex], None]
    # check name -> why the spec cannot promise what this scenario sends
    excluded: dict[str, str] = field(default_factory=dict)
    st_options: tuple[str, ...] = ()
    # the run must have met the fault: at least one 429 answered
    expects_429: bool = False


def _faults(fake: FakeCortex) -> None:
    # Schemathesis is paced at 40 requests a second (`st_options`), a little over this limit:
    # enough 429s to check each one, not so many that the run never gets past them.
    fake.faults.rate_limit(per_second=30, burst=5)
    fake.faults.on_query("type = 'team'", status="FAILURE")
    fake.faults.on_query("type = 'bucket'", status="CANCELLED")
    fake.faults.on_query("type in ('cache', 'queue')", status="TIMED_OUT")


SCENARIOS = (
    Scenario("plain fake", lambda fake: None),
    Scenario(
        "rate limit and jobs that fail, are cancelled or time out",
        _faults,
        st_options=("--rate-limit", "40/s"),
        expects_429=True,
    ),
    Scenario(
        "enum values newer than the spec",
        lambda fake: fake.faults.unknown_enums(),
        excluded={
            "response_schema_conformance": (
                "the fake sends status PAUSED and error type QUOTA_EXCEEDED, which the spec does "
                "not list, on purpose: they stand for values the API may add later, which the "
                "SDK must survive"
            ),
        },
    ),
)


@dataclass
class Outcome:
    scenario: Scenario
    exit_code: int
    cases: str
    jobs: int
    ended: dict[str, int]  # final status -> jobs polled after their end
    rate_limited: int


def run(scenario: Scenario, extra: list[str]) -> Outcome:
    print(f"\n=== {scenario.name} ===", flush=True)
    with FakeCortex(api_key=KEY, job_seconds=0.3) as fake:
        scenario.arrange(fake)
        command = [
            *("st", "--config-file", str(CONFIG), "run", str(SPEC)),
            *("--url", fake.base_url, "-H", f"Authorization: Bearer {KEY}", "--checks", "all"),
        ]
        for check, reason in scenario.excluded.items():
            print(f"excluded check {check}: {reason}", flush=True)
            command += ["--exclude-checks", check]
        command += [*scenario.st_options, *extra]
        done = subprocess.run(command, capture_output=True, text=True, check=False)  # noqa: S603
        print(done.stdout + done.stderr, flush=True)
        # st has exited: nothing is in flight, the fake's record is complete.
        jobs = fake.jobs()
        ends = {job.job_id: job.started + job.seconds for job in jobs}
        polled = set()
        for r in fake.requests:
            job_id = r.path.rsplit("/", 1)[-1]
            if r.method == "GET" and r.status == 200 and r.at >= ends.get(job_id, math.inf):
                polled.add(job_id)
        ended = Counter(job.final_status for job in jobs if job.job_id in polled)
        rate_limited = fake.counters.rate_limited
    found = re.search(r"(\d+) generated", done.stdout)
    cases = found[1] if found else "?"
    return Outcome(scenario, done.returncode, cases, len(jobs), dict(ended), rate_limited)


def main(argv: list[str]) -> int:
    outcomes = [run(scenario, argv) for scenario in SCENARIOS]
    print("\n=== schemathesis: summary ===")
    failed = False
    for o in outcomes:
        problems = [] if o.exit_code == 0 else [f"st exit {o.exit_code}"]
        if not o.ended:
            problems.append("the stateful phase never polled a job after its end")
        if o.scenario.expects_429 and not o.rate_limited:
            problems.append("no request met the rate limit")
        failed = failed or bool(problems)
        ended = ", ".join(f"{n} {status}" for status, n in sorted(o.ended.items())) or "none"
        print(
            f"{'FAIL' if problems else 'ok  '} {o.scenario.name}: {o.cases} cases, "
            f"{o.jobs} jobs started, polled after their end: {ended}; "
            f"{o.rate_limited} answered 429" + "".join(f"; {p}" for p in problems)
        )
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
