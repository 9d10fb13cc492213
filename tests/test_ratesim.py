"""The rate-limit simulator (tests/support/ratesim.py): its servers, and the client it drives.

It runs the SDK's real limiter and retry decisions on a fake clock against simulated buckets;
these tests pin the simulated servers' arithmetic, its determinism, and the client's figures at
the shape the wall-clock benchmark uses (a token bucket of 10/s holding one second's worth),
which must not get worse. `python tests/support/ratesim.py` prints the sweep over every shape.
"""

from __future__ import annotations

from ratesim import FixedWindow, TokenBucket, shapes, simulate


def test_a_token_bucket_answers_its_burst_then_the_seconds_to_the_next_token() -> None:
    bucket = TokenBucket(rate=2.0, burst=2.0)
    assert [bucket.answer(0.0) for _ in range(3)] == [None, None, 1]
    assert bucket.answer(0.5) is None  # one token back after 0.5 s
    assert bucket.answer(0.5) == 1  # 0.5 s to the next, said as a whole second


def test_a_fixed_window_answers_until_the_end_of_its_window() -> None:
    window = FixedWindow(count=2, window=60.0)
    assert [window.answer(t) for t in (0.0, 1.0, 1.5)] == [None, None, 59]
    assert window.answer(59.2) == 1
    assert window.answer(60.0) is None  # a new window


def test_the_same_seed_gives_the_same_run() -> None:
    first = simulate(TokenBucket(5.0, 2.0), callers=8, seconds=30.0, seed=3)
    again = simulate(TokenBucket(5.0, 2.0), callers=8, seconds=30.0, seed=3)
    assert (first.accepted, first.limited, first.failed) == (
        again.accepted,
        again.limited,
        again.failed,
    )


def test_at_the_benchmarks_shape_the_client_keeps_to_the_limit() -> None:
    # The wall-clock benchmark (figure 4) measured 1.05 of the limit and 3.4 % 429s here.
    for callers in (1, 16, 64):
        run = simulate(TokenBucket(10.0, 10.0), callers=callers, seconds=60.0)
        assert run.goodput(30, 60) >= 0.95, callers
        assert run.share_429(30, 60) <= 0.02, callers
        assert run.failed == 0


def test_the_sweep_covers_every_shape_of_the_issue() -> None:
    names = [name for name, _ in shapes()]
    assert len(names) == 22  # 4 rates x 5 bursts, and two fixed windows
    assert len(set(names)) == len(names)
