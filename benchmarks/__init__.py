"""Benchmarks of cortexio-sdk against the alternatives a user has, each as a ratio in one run.

`python -m benchmarks` (what `nox -s bench` runs) measures every figure and writes BENCHMARKS.md;
`python -m benchmarks --quick` (`nox -s bench_quick`, part of CI) runs the same code with short
durations and small sizes and prints the table instead. A benchmark fails (non-zero exit) only
when it is broken: an exception, or a wrong result. A slow machine never fails it.

Each figure runs in its own Python process (`python -m benchmarks.<figure>`, JSON on stdout), so
that peak memory is that figure's alone; each server under test runs in a process of its own
on 127.0.0.1: the fake Cortex (`python -m cortexio_sdk.testing`, or `benchmarks.fakejobs` where
jobs need lengths of their own) or, where the fake's Python HTTP handling would be the
bottleneck, `benchmarks.rawserver`, a minimal asyncio server answering canned bodies.
"""
