"""OpenTelemetry's SDK with in-memory exporters, as a service would configure it, for one test.

`capture(monkeypatch)` makes a tracer provider (spans kept in memory) and a meter provider
(read on demand) and has `trace.get_tracer_provider()` / `metrics.get_meter_provider()` return
them for the test: the API lets a process set its global providers only once, and this keeps
the other tests of the run untraced.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

# Imported before any patch, as in a service: it reads the API's stand-in provider's type.
import cortexio_sdk._telemetry._otel  # noqa: F401
import pytest
from opentelemetry import metrics, trace
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter


class Captured:
    def __init__(self) -> None:
        self.exporter = InMemorySpanExporter()
        self.tracer_provider = TracerProvider()
        self.tracer_provider.add_span_processor(SimpleSpanProcessor(self.exporter))
        self.reader = InMemoryMetricReader()
        self.meter_provider = MeterProvider(metric_readers=[self.reader])
        self._metrics: Any = None

    # -- spans -----------------------------------------------------------------------------------

    def spans(self) -> list[ReadableSpan]:
        return list(self.exporter.get_finished_spans())

    def named(self, name: str) -> list[ReadableSpan]:
        return [span for span in self.spans() if span.name == name]

    def one(self, name: str) -> ReadableSpan:
        found = self.named(name)
        assert len(found) == 1, (
            f"{len(found)} spans named {name!r}: {[s.name for s in self.spans()]}"
        )
        return found[0]

    def children(self, parent: ReadableSpan) -> list[ReadableSpan]:
        parent_id = parent.context.span_id
        return sorted(
            (s for s in self.spans() if s.parent is not None and s.parent.span_id == parent_id),
            key=lambda s: s.start_time or 0,
        )

    # -- metrics ---------------------------------------------------------------------------------

    def read_metrics(self) -> None:
        """Collect now: each call of `points` then reads this collection."""
        self._metrics = self.reader.get_metrics_data()

    def points(self, name: str) -> list[tuple[dict[str, Any], Any]]:
        """(attributes, data point) of every point of metric `name` in the last collection."""
        if self._metrics is None:
            self.read_metrics()
        found = []
        for resource in self._metrics.resource_metrics:
            for scope in resource.scope_metrics:
                for metric in scope.metrics:
                    if metric.name == name:
                        found += [(dict(p.attributes or {}), p) for p in metric.data.data_points]
        return found

    def total(self, name: str, **attributes: Any) -> float:
        """Sum of a counter's (or a histogram's count of) points matching `attributes`."""
        total = 0.0
        for seen, point in self.points(name):
            if all(seen.get(key.replace("__", ".")) == value for key, value in attributes.items()):
                total += getattr(point, "value", None) or getattr(point, "count", 0)
        return total

    # -- everything exported, as bytes -----------------------------------------------------------

    def exported(self) -> str:
        if self._metrics is None:
            self.read_metrics()
        spans = [json.loads(span.to_json()) for span in self.spans()]
        return json.dumps(spans) + self._metrics.to_json()


@pytest.fixture
def otel(monkeypatch: pytest.MonkeyPatch) -> Iterator[Captured]:
    captured = Captured()
    monkeypatch.setattr(trace, "get_tracer_provider", lambda: captured.tracer_provider)
    monkeypatch.setattr(metrics, "get_meter_provider", lambda: captured.meter_provider)
    yield captured
    captured.tracer_provider.shutdown()
    captured.meter_provider.shutdown()
