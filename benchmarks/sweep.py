"""Figure 8, the limiter across server shapes: every shape of issue 13's sweep, simulated.

The SDK's own limiter and retry decisions (tests/support/ratesim.py) against the fake Cortex's
own rate limits: token buckets (rates 2, 5, 10 and 16.7/s; bursts 1, 2, 5, a second's and a
minute's worth) and fixed windows (per second, per minute), with 1, 4, 16 and 64 callers sharing
one client at its defaults (not told the limit), 60 simulated seconds each, worst cell first.
Beside it in the same cells: plain retry (each caller sleeps the Retry-After and resends, no
limiter), and the SDK told the limit (what a user who knows the shape's rate gets). Then a limit
that halves or doubles mid-run, a bucket another client spends, limits between the sweep's
rates, token buckets over ten minutes (the steady state with its probes for a higher limit),
windows of a minute and of 5-10 s (fixed and sliding) over ten minutes, buckets of one with
requests spread in time beside the best fixed pace, small buckets on a machine that stalls
now and then, beside the best fixed pace there, and fleets on `RedisLimiter` whose Redis is
killed mid-run. The changed limits, the limits between the sweep's rates and the ten minutes
carry the SDK told the limit too, and each cell that misses issue 13's bounds says why (from
what its run showed). Figures 4 and 7 measure a sample of these
cells on the wall clock; tests/test_ratesim.py holds the limiter to its bounds over 228 shapes.
`--quick` (CI's smoke run) keeps two cells of each of the two tables of many rates, one
stall's six cells, and two killed fleets.
"""

from __future__ import annotations

import logging
import sys
from functools import partial
from pathlib import Path
from typing import Any

from ._common import RedisWarnings, check, emit, quick_flag

# The simulator lives with the tests, which pin its arithmetic (tests/test_ratesim.py).
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests" / "support"))

from ratesim import (
    CHANGE_AT,
    FLEETS,
    Result,
    Server,
    TokenBucket,
    best_pace,
    change_shapes,
    shapes,
    simulate,
)

CALLERS = (1, 4, 16, 64)
SECONDS = 60.0
# Limits between the sweep's rates: a key's share is as likely to be 2.3/s or 14.8/s as 2 or
# 16.7, and the four rates alone hide how the learning fares in between.
BETWEEN_RATES = (1.2, 1.7, 2.3, 2.7, 3.3, 3.8, 4.4, 5.5, 6.2, 7.3, 8.1, 9.2, 10.7, 11.8)
BETWEEN_RATES_HIGH = (12.6, 13.9, 14.8, 15.6)
BETWEEN_BURSTS = ("1", "2", "5", "1 s", "1 min")
# Token buckets over ten minutes: the sweep's minute ends where the steady state begins.
LONG_RATES = (2.0, 3.3, 5.0, 7.3, 10.0, 14.8)
LONG_BURSTS = ("1", "2", "5", "1 s", "10 s")
LONG_SECONDS = 600.0
LONG_FROM = 120.0  # measured from here: the learning is over


def _figures(run: Result) -> dict[str, Any]:
    return {
        "goodput_late": run.goodput(30, 60),
        "share_429_late": run.share_429(30, 60),
        "goodput_early": run.goodput(0, 20),
        "share_429_early": run.share_429(0, 20),
        "count_429_late": run.count_429(30, 60),
        "first_429": min(run.limited) if run.limited else None,
        "last_429": run.last_429(),
        "failed": run.failed,
    }


def _best(share: float, run: Result) -> dict[str, Any]:
    """The best fixed pace (`best_pace`): its share of the limit and its seconds 30-60."""
    return {"pace": share, "goodput": run.goodput(30, 60), "share_429": run.share_429(30, 60)}


def meets(figures: dict[str, Any]) -> bool:
    """Issue 13's bounds for one cell: steady (s 30-60) and learning (s 0-20)."""
    return bool(
        figures["goodput_late"] >= 0.95
        and figures["share_429_late"] <= 0.01
        and figures["goodput_early"] >= 0.6
        and figures["share_429_early"] <= 0.12
        and figures["failed"] == 0
    )


def why(server: str, sdk: dict[str, Any], limit: float) -> list[str]:
    """Why a cell misses the bounds, each reason apart, from its shape, its limit and what the
    run showed."""
    if "per min" in server:
        count, first = server.split()[1], sdk["first_429"]
        if first is None:
            return ["the client kept under the window's count but under 0.95 of it too"]
        return [
            "the slow start reaches 16.4/s within seconds (1.5 % under Cortex's documented "
            f"16.7/s), as a bucket of that rate needs it to, and spends the window's {count} "
            f"by second {first}: none pass until the window ends at second 60. Until its first "
            "429 a client not told the limit cannot tell this window from a bucket of 16.7/s "
            "holding a minute's worth; after the first window it keeps to this one, as figure "
            "8's table of windows over ten minutes shows"
        ]
    # (Texts without the cell's own figures, which stand beside them: the tables group the
    # cells that miss for one reason.)
    reasons = []
    late = sdk["count_429_late"]
    if "1 min" in server and (sdk["first_429"] or 0) >= 20 and sdk["share_429_late"] > 0.01:
        reasons.append(
            "the bucket holds a minute's worth: the first 429 comes only once it is spent, "
            "near the 30th second, and the learning, with its 429s, starts then"
        )
    elif late and sdk["share_429_late"] > 0.01 and limit * 30 < 100:
        reasons.append(
            "one 429 in the half-minute is over 1 % at this limit (a half-minute holds under "
            "100 requests): a rate a few % too fast takes tens of seconds to show (4 % over, "
            "a bucket of 2 lasts 25 s at 2/s), so a rate kept after passing its trial on the "
            "bucket's savings can meet its 429 after the 30th second"
        )
    elif sdk["share_429_late"] > 0.01:
        reasons.append(
            "rates a few % too fast passed their trials on the bucket's savings and met their "
            "429s only after the 30th second"
        )
    if sdk["goodput_late"] < 0.95 and late:
        reasons.append(
            "under 0.95 of the limit: a rate kept after passing its trial on the bucket's "
            "savings, or a trial still under way, met its 429 after the 30th second, and the "
            "learning after it ran under the limit"
        )
    elif sdk["goodput_late"] < 0.95:
        reasons.append(
            "under 0.95 of the limit, with no 429 in the half-minute: the bracket had stopped "
            "short of the limit, or was still closing: each trial counts only once savings as "
            "large as a hold-off lets a bucket refill (a second at the rate that met the 429) "
            "would have run out, and one that would take over 15 s is not made, and nothing had "
            "shown this bucket to hold less (the probes for a higher limit close the rest "
            "later: the ten-minute table)"
        )
    if sdk["share_429_early"] > 0.12:
        reasons.append(
            "over 12 % of requests answered 429 in seconds 0-20: at this limit those seconds "
            "hold under 50 requests, and the slow start's first 429s and the bracket's after "
            "them are each over 2 % of them"
        )
    if sdk["goodput_early"] < 0.6:
        reasons.append("a slow start: the bracket narrows from an eighth of the documented limit")
    if sdk["failed"]:
        reasons.append("calls failed")
    return reasons or ["missed by a hair the rounding hides"]


def _cells() -> list[dict[str, Any]]:
    cells = []
    for name, make in shapes():
        limit = make().limit
        for callers in CALLERS:
            sdk = _figures(simulate(make(), callers=callers, seconds=SECONDS))
            plain = _figures(simulate(make(), callers=callers, seconds=SECONDS, client="plain"))
            told = simulate(
                make(), callers=callers, seconds=SECONDS, requests_per_minute=limit * 60, told=True
            )
            cell: dict[str, Any] = {"server": name, "callers": callers, **sdk}
            cell |= {"plain": plain, "told": _figures(told), "meets": meets(sdk)}
            cell["why"] = "" if cell["meets"] else "; ".join(why(name, sdk, limit))
            cells.append(cell)
    check(len(cells) == 22 * len(CALLERS), "the sweep lost a cell")
    cells.sort(key=lambda c: (c["meets"], c["goodput_late"], -c["share_429_late"]))
    return cells


def _burst(rate: float, name: str) -> float:
    """A burst's size from its name: a count, or seconds' worth at `rate`."""
    worth = {"1 s": 1.0, "10 s": 10.0, "1 min": 60.0}
    return rate * worth[name] if name in worth else float(name)


def _between(quick: bool) -> list[dict[str, Any]]:
    """Token buckets at limits between the sweep's rates, 16 callers, 60 s, the sweep's
    bounds."""
    rows = []
    for rate in BETWEEN_RATES[:2] if quick else BETWEEN_RATES + BETWEEN_RATES_HIGH:
        for burst in BETWEEN_BURSTS[:1] if quick else BETWEEN_BURSTS:
            make = partial(Server, rate, _burst(rate, burst))
            figures = _figures(simulate(make(), callers=16, seconds=SECONDS))
            told = simulate(
                make(), callers=16, seconds=SECONDS, requests_per_minute=rate * 60, told=True
            )
            ok = meets(figures)
            name = f"bucket {rate:.3g}/s burst {burst}"
            rows.append(
                {"rate": rate, "burst": burst, **figures, "meets": ok, "told": _figures(told)}
                | {"reasons": [] if ok else why(name, figures, rate)}
            )
    return rows


def _long_ok(figures: dict[str, Any]) -> bool:
    """The sweep's steady-state bounds over minutes 2-10."""
    return bool(
        figures["goodput"] >= 0.95 and figures["share_429"] <= 0.01 and figures["failed"] == 0
    )


def _long_why(rate: float, figures: dict[str, Any]) -> str:
    """Why a ten-minute cell misses, from what the run showed."""
    count = figures["count_429"]
    requests = rate * (LONG_SECONDS - LONG_FROM)
    reasons = []
    if figures["share_429"] > 0.01:
        reasons.append(
            f"{count} 429s where 1 % of the {requests:.0f} requests is {requests / 100:.1f}: "
            "each probe for a higher limit climbs on what the bucket saved and meets its "
            "429 well past the limit, and the bracket back down meets several more"
        )
    if figures["goodput"] < 0.95:
        reasons.append(
            "the steady rate keeps 1.5 % under the fastest rate known to pass, and each "
            "probe for a higher limit that finds none (one a minute at least) holds every "
            f"caller for a second, as Retry-After is whole seconds: {count} 429s"
        )
    if figures["failed"]:
        reasons.append(f"{figures['failed']} calls failed")
    return "; ".join(reasons)


def _long(quick: bool) -> list[dict[str, Any]]:
    """Token buckets over ten simulated minutes, 16 callers, measured from minute 2 on: the
    steady state, with its probes for a higher limit (every 300 requests, a minute at least)
    and what each failed probe costs."""
    rows = []
    for rate in LONG_RATES[:2] if quick else LONG_RATES:
        for burst in LONG_BURSTS[:1] if quick else LONG_BURSTS:
            make = partial(Server, rate, _burst(rate, burst))
            run = simulate(make(), callers=16, seconds=LONG_SECONDS)
            told = simulate(
                make(), callers=16, seconds=LONG_SECONDS, requests_per_minute=rate * 60, told=True
            )
            minutes = range(int(LONG_FROM), int(LONG_SECONDS), 60)
            row: dict[str, Any] = {
                "rate": rate,
                "burst": burst,
                "goodput": run.goodput(LONG_FROM, LONG_SECONDS),
                "share_429": run.share_429(LONG_FROM, LONG_SECONDS),
                "count_429": run.count_429(LONG_FROM, LONG_SECONDS),
                "worst_minute": min(run.goodput(s, s + 60) for s in minutes),
                "failed": run.failed,
                "told": {
                    "goodput": told.goodput(LONG_FROM, LONG_SECONDS),
                    "share_429": told.share_429(LONG_FROM, LONG_SECONDS),
                },
            }
            row["meets"] = _long_ok(row)
            row["why"] = "" if row["meets"] else _long_why(rate, row)
            rows.append(row)
    return rows


def _changes() -> list[dict[str, Any]]:
    """The simulator's limits that halve (measured from 15 s after) or double (2 minutes
    after), at the sweep's rates with bursts of 1 and a second's worth; 16 callers."""
    rows = []
    for name, make in change_shapes():
        server, change = name.split(", ")
        burst = server.split(" burst ")[1]
        rate = float(server.split()[1].removesuffix("/s"))
        if burst not in ("1", "1 s") or rate not in (2.0, 5.0, 10.0, 16.7):
            continue
        run = simulate(make(), callers=16, seconds=CHANGE_AT + 150)
        after = CHANGE_AT + (15.0 if change == "halves" else 120.0)
        new = rate * (0.5 if change == "halves" else 2.0)
        # (An oracle: a client told the new limit, against it from the start, seconds 30-60.)
        oracle = Server(new, _burst(rate, burst))
        told = simulate(
            oracle, callers=16, seconds=SECONDS, requests_per_minute=new * 60, told=True
        )
        seconds = [s for s in run.limited if after <= s < after + 30]
        row: dict[str, Any] = {
            "server": server,
            "change": change,
            "from": after,
            "goodput": run.goodput(after, after + 30),
            "share_429": run.share_429(after, after + 30),
            "count_429": run.count_429(after, after + 30),
            "last_429": max(seconds, default=None),
            "failed": run.failed,
            "told": {"goodput": told.goodput(30, 60), "share_429": told.share_429(30, 60)},
        }
        # Issue 13: halved, 0.9 of the new limit and under 1 % 429s within 15 s; doubled, 0.9
        # within 2 minutes at rates of 5/s and above (None: no bound set).
        if change == "halves":
            row["meets"] = row["goodput"] >= 0.9 and row["share_429"] < 0.01
        else:
            row["meets"] = row["goodput"] >= 0.9 if rate >= 5.0 else None
        row["meets"] = None if row["meets"] is None else bool(row["meets"] and not run.failed)
        row["why"] = "" if row["meets"] is not False else _change_why(new, row)
        rows.append(row)
    return rows


def _change_why(new: float, row: dict[str, Any]) -> str:
    """Why a changed limit's cell misses, from what the run showed."""
    count, requests = row["count_429"], new * 30
    reasons = []
    if row["share_429"] >= 0.01:
        one = " (one is over 1 %)" if requests < 100 else ""
        reasons.append(
            f"the bracket that learns the new limit from below was still closing: {count} "
            f"429{'s' if count > 1 else ''} from its trials, the last at second "
            f"{row['last_429']}, where the half-minute holds {requests:.0f} requests at the "
            f"new {new:.3g}/s{one}; a trial a few % too fast meets its 429 only once the "
            "bucket's savings run out"
        )
    if row["goodput"] < 0.9:
        reasons.append(
            f"{row['goodput']:.2f} of the new limit: the probes for a higher limit come every "
            f"300 requests, {300 / new:.0f} s at the old rate, and each climbs from the old "
            "limit in steps that double from 3 %"
        )
    if row["failed"]:
        reasons.append(f"{row['failed']} calls failed")
    return "; ".join(reasons)


def _spent() -> list[dict[str, Any]]:
    """Another client of the key spends the bucket while this one is in its slow start (a
    replica that started while others had used the key): 16 callers, the SDK beside plain
    retry, goodput over the first half-minute and the minute after."""
    rows = []
    for rate in (5.0, 10.0, 1000 / 60):
        for burst_name, burst in (("1", 1.0), ("1 s", rate)):
            for spent_at in (0.3, 1.5):
                row: dict[str, Any] = {
                    "server": f"bucket {rate:.3g}/s burst {burst_name}",
                    "spent_at": spent_at,
                }
                for client in ("sdk", "plain"):
                    server = Server(rate, burst, spent_at=spent_at)
                    run = simulate(server, callers=16, seconds=90.0, client=client)
                    row[client] = {
                        "goodput_first": run.goodput(0, 30),
                        "goodput_after": run.goodput(30, 90),
                        "share_429_after": run.share_429(30, 90),
                        "failed": run.failed,
                    }
                rows.append(row)
    return rows


def _windows() -> list[dict[str, Any]]:
    """Windows of a minute and of 5 and 10 s, fixed and sliding, over ten simulated minutes
    (the sweep's minute shows only the first window): 16 callers, the SDK beside plain retry,
    the first two minutes and from the fifth minute on."""
    rows = []
    for shape in ("fixed", "sliding"):
        for count in (60, 120, 300, 600, 780):
            rows.append(_window_row(shape, count, 60.0))
        for count, seconds in ((50, 5.0), (100, 10.0), (130, 10.0)):
            rows.append(_window_row(shape, count, seconds))
    return rows


def _window_row(shape: str, count: int, seconds: float) -> dict[str, Any]:
    unit = "min" if seconds == 60.0 else f"{seconds:g} s"
    row: dict[str, Any] = {"server": f"{shape} window {count} per {unit}"}
    for client in ("sdk", "plain"):
        server = Server(count / seconds, shape=f"{shape}-window", window=seconds)
        run = simulate(server, callers=16, seconds=600.0, client=client)
        row[client] = {
            "goodput_first": run.goodput(0, 120),
            "goodput": run.goodput(240, 600),
            "share_429": run.share_429(240, 600),
            "worst_10s": min(run.goodput(s, s + 10) for s in range(240, 600, 10)),
            "failed": run.failed,
        }
    return row


SPREADS = (0.0, 0.0003, 0.001, 0.003, 0.01)  # mean extra delay of a request on its way, seconds


def _spread() -> list[dict[str, Any]]:
    """Buckets of one with requests spread in time on their way to the server
    (`benchmarks.spread` measures the spread on this machine): 16 callers, the SDK (not told
    the limit) beside the best fixed pace for the shape and the spread (an oracle that knows
    both), seconds 30-60."""
    rows = []
    for rate in (5.0, 10.0, 1000 / 60):
        for jitter in SPREADS:
            make = partial(TokenBucket, rate, 1.0)
            latency = 0.001 if jitter else 0.0
            share, best = best_pace(make, seconds=SECONDS, latency=latency, jitter=jitter)
            run = simulate(make(), callers=16, seconds=SECONDS, latency=latency, jitter=jitter)
            rows.append(
                {
                    "server": f"bucket {rate:.3g}/s burst 1",
                    "jitter": jitter,
                    "sdk": {
                        "goodput": run.goodput(30, 60),
                        "share_429": run.share_429(30, 60),
                        "failed": run.failed,
                    },
                    "best": _best(share, best),
                }
            )
    return rows


# A loaded machine: (mean seconds between stalls, seconds each). The process (client and fake
# alike) stops, and what fell due meanwhile happens at the stall's end.
STALLS = ((10.0, 0.3), (5.0, 0.1), (2.0, 0.15))
STALL_RATES = (5.0, 10.0, 1000 / 60)
STALL_BURSTS = ("1", "2", "5", "1 s")


def _stalled(quick: bool) -> list[dict[str, Any]]:
    """Token buckets on a machine that stalls now and then (ratesim's `stalls`), 16 callers,
    seconds 30-60: the SDK (not told the limit), plain retry, and the best fixed pace for the
    shape and the stalls (an oracle that knows both)."""
    rows = []
    for every, length in STALLS[1:2] if quick else STALLS:
        for rate in STALL_RATES:
            for name in STALL_BURSTS[:2] if quick else STALL_BURSTS:
                make = partial(TokenBucket, rate, _burst(rate, name))
                stalls = (every, length)
                share, best = best_pace(make, seconds=SECONDS, stalls=stalls)
                run = simulate(make(), callers=16, seconds=SECONDS, stalls=stalls)
                plain = simulate(make(), callers=16, seconds=SECONDS, stalls=stalls, client="plain")
                rows.append(
                    {
                        "server": f"bucket {rate:.3g}/s burst {name}",
                        "stalls": [every, length],
                        "sdk": _figures(run),
                        "plain": _figures(plain),
                        "best": _best(share, best),
                    }
                )
    return rows


# Fleets on RedisLimiter (ratesim's FLEETS, processes x callers), Redis killed at the run's
# middle: figure 7 measures two such fleets on the wall clock.
FLEET_RATES = (2.0, 5.0, 10.0, 1000 / 60)
FLEET_BURSTS = ("1", "2", "5", "1 s", "1 min")


def _killed(quick: bool) -> list[dict[str, Any]]:
    """Fleets on `RedisLimiter` (its script simulated) whose Redis is killed at second 30 and
    stays down: each process falls back to its own limiter at its share. Seconds 0-20 are
    the fleet on Redis, 30-60 the fleet without it; beside it, plain retry with as many
    callers."""
    rows = []
    sdk_logger = logging.getLogger("cortexio_sdk")
    for rate in FLEET_RATES[1:2] if quick else FLEET_RATES:
        for name in FLEET_BURSTS[2:4] if quick else FLEET_BURSTS:
            for processes, callers in FLEETS[1:2] if quick else FLEETS:
                make = partial(TokenBucket, rate, _burst(rate, name))
                warnings, propagate = RedisWarnings(), sdk_logger.propagate
                sdk_logger.addHandler(warnings)
                sdk_logger.propagate = False  # (thousands of warnings: off stderr)
                try:
                    run = simulate(
                        make(),
                        callers=callers,
                        seconds=SECONDS,
                        processes=processes,
                        redis_killed_at=SECONDS / 2,
                    )
                finally:
                    sdk_logger.removeHandler(warnings)
                    sdk_logger.propagate = propagate
                everyone = callers * processes
                plain = simulate(make(), callers=everyone, seconds=SECONDS, client="plain")
                rows.append(
                    {
                        "server": f"bucket {rate:.3g}/s burst {name}",
                        "size": _burst(rate, name),
                        "processes": processes,
                        "callers": callers,
                        "sdk": _figures(run),
                        "warnings": len(warnings.messages),
                        "plain": _figures(plain),
                    }
                )
    return rows


def main() -> None:
    quick = quick_flag()
    sdk = _cells()
    emit(
        {
            "seconds": SECONDS,
            "shapes": [name for name, _ in shapes()],  # the simulator's order, for the pictures
            "cells": sdk,
            # The pictures draw plain retry's cells beside the SDK's.
            "plain_cells": [
                {"server": c["server"], "callers": c["callers"], **c["plain"]} for c in sdk
            ],
            "changes": _changes(),
            "between": _between(quick),
            "long": _long(quick),
            "spent": _spent(),
            "windows": _windows(),
            "spread": _spread(),
            "stalled": _stalled(quick),
            "killed": _killed(quick),
            "change_at": CHANGE_AT,
        }
    )


if __name__ == "__main__":
    main()
