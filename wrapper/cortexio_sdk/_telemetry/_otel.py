"""The SDK's spans and metrics on OpenTelemetry's global providers (the `otel` extra).

The only module that imports OpenTelemetry, and only once the service has (`_records`). The SDK
uses the global tracer and meter providers, as a library should: the service decides what is
exported and where. Names: `_names` (public API).
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING

from opentelemetry import context, metrics, trace
from opentelemetry.metrics import CallbackOptions, NoOpMeterProvider, Observation
from opentelemetry.trace import NoOpTracerProvider, ProxyTracerProvider, SpanKind, StatusCode

from .._version import __version__
from . import _names as names
from ._records import live_telemetry

if TYPE_CHECKING:
    import httpx
    from opentelemetry.util.types import AttributeValue

    from ._records import CallRecord, WaitRecord

__all__ = ["CallSpans", "Instruments", "instruments"]

logger = logging.getLogger("cortexio_sdk")

# Seconds: from a request answered at once to a job of minutes (the defaults are milliseconds).
_CALL_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)
_WAIT_BUCKETS = (0.0, 0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)
_QUERY_BUCKETS = (0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0)

# The API's stand-in meter provider before the service sets one (private in the API: looked
# up by name, so a release that renames it only costs the check below its shortcut).
_PROXY_METER_PROVIDER = type(metrics.get_meter_provider())
if _PROXY_METER_PROVIDER.__name__ != "_ProxyMeterProvider":
    _PROXY_METER_PROVIDER = NoOpMeterProvider


def _unset(provider: object) -> bool:
    return isinstance(
        provider,
        ProxyTracerProvider | NoOpTracerProvider | NoOpMeterProvider | _PROXY_METER_PROVIDER,
    )


class Instruments:
    """The tracer and the metric instruments of one pair of providers."""

    def __init__(self, tracer: trace.Tracer | None, meter: metrics.Meter | None) -> None:
        self.tracer = tracer
        self.metered = meter is not None
        if meter is None:
            return
        self.requests = meter.create_counter(
            names.REQUESTS, unit="{request}", description="HTTP requests sent, by answer"
        )
        self.retries = meter.create_counter(
            names.RETRIES, unit="{retry}", description="Requests sent again, by reason"
        )
        self.fallbacks = meter.create_counter(
            names.LIMITER_FALLBACKS,
            unit="{fallback}",
            description="Times a shared (Redis) rate limiter failed and a client's own took over",
        )
        self.limiter_wait = meter.create_histogram(
            names.LIMITER_WAIT_METRIC,
            unit="s",
            description="Time one call waited for the rate limiter",
            explicit_bucket_boundaries_advisory=_WAIT_BUCKETS,
        )
        self.call_duration = meter.create_histogram(
            names.CALL_DURATION,
            unit="s",
            description="Duration of an SDK call, retries and waits included",
            explicit_bucket_boundaries_advisory=_CALL_BUCKETS,
        )
        self.query_duration = meter.create_histogram(
            names.QUERY_DURATION,
            unit="s",
            description="A query job's run, from its initiatedAt to the poll that saw it end",
            explicit_bucket_boundaries_advisory=_QUERY_BUCKETS,
        )
        meter.create_observable_gauge(
            names.LIMITER_RATE,
            callbacks=[_observe_rates],
            unit="{request}/s",
            description="The rate the clients' rate limiters currently send at",
        )

    # -- spans -------------------------------------------------------------------------------

    def call_spans(self, record: CallRecord, request: httpx.Request) -> CallSpans | None:
        return None if self.tracer is None else CallSpans(self.tracer, record, request)

    def wait_began(self, record: WaitRecord) -> tuple[trace.Span, object] | None:
        if self.tracer is None:
            return None
        span = self.tracer.start_span(names.WAIT_SPAN, attributes={names.JOB_ID: record.job_id})
        return span, context.attach(trace.set_span_in_context(span))

    def wait_ended(self, record: WaitRecord, seconds: float, error: BaseException | None) -> None:
        opened: tuple[trace.Span, object] = record.opened
        span, token = opened
        span.set_attribute(names.POLLS, record.polls)
        span.set_attribute(names.WAITED, seconds)
        if record.status is not None:
            span.set_attribute(names.QUERY_STATUS, record.status)
        if error is not None:
            _record_error(span, error, with_message=record.telemetry.record_query_text)
        context.detach(token)  # type: ignore[arg-type]
        span.end()

    # -- metrics -----------------------------------------------------------------------------

    def count_request(
        self, record: CallRecord, *, status: int | None = None, error: BaseException | None = None
    ) -> None:
        if not self.metered:
            return
        attributes: dict[str, AttributeValue] = {
            names.OPERATION: record.operation,
            names.HTTP_METHOD: record.method,
        }
        if status is not None:
            attributes[names.HTTP_STATUS] = status
        if error is not None:
            attributes[names.ERROR_TYPE] = error_type(error)
        self.requests.add(1, attributes)

    def count_retry(self, record: CallRecord, reason: str) -> None:
        if self.metered:
            self.retries.add(1, {names.OPERATION: record.operation, names.RETRY_REASON: reason})

    def count_fallback(self) -> None:
        if self.metered:
            self.fallbacks.add(1)

    def call_ended(self, record: CallRecord, seconds: float, error: BaseException | None) -> None:
        if not self.metered:
            return
        operation = {names.OPERATION: record.operation}
        attributes: dict[str, AttributeValue] = {
            **operation,
            names.OUTCOME: names.OK if error is None else names.FAILED,
        }
        if error is not None:
            attributes[names.ERROR_TYPE] = error_type(error)
        self.call_duration.record(seconds, attributes)
        self.limiter_wait.record(record.waited, operation)

    def query_ended(self, status: str, seconds: float) -> None:
        if self.metered:
            self.query_duration.record(seconds, {names.QUERY_STATUS: status})


class CallSpans:
    """The span of one SDK call (named after its operationId) and of each HTTP attempt under it.

    Each is made the current span while it is open, so spans started below (an httpx
    instrumentation, a log correlation) nest under it; both are closed in the order opened.
    """

    def __init__(self, tracer: trace.Tracer, record: CallRecord, request: httpx.Request) -> None:
        self.tracer = tracer
        self.record = record
        self.request = request
        self.span: trace.Span | None = None
        self.token: object = None
        self.attempt: trace.Span | None = None
        self.attempt_token: object = None

    def begin(self, query_text: str | None) -> None:
        record = self.record
        attributes: dict[str, AttributeValue] = {
            names.OPERATION: record.operation,
            names.HTTP_METHOD: record.method,
        }
        if record.template is not None:
            attributes[names.URL_TEMPLATE] = record.template
        if query_text is not None:
            attributes[names.QUERY_TEXT] = query_text
        self.span = self.tracer.start_span(
            record.operation, kind=SpanKind.INTERNAL, attributes=attributes
        )
        self.token = context.attach(trace.set_span_in_context(self.span))

    def attempt_started(self, resends: int, waited: float) -> None:
        record, url = self.record, self.request.url
        port = url.port if url.port is not None else (443 if url.scheme == "https" else 80)
        attributes: dict[str, AttributeValue] = {
            names.HTTP_METHOD: record.method,
            names.SERVER_ADDRESS: url.host,
            names.SERVER_PORT: port,
            names.URL_FULL: _without_credentials(url),
            names.LIMITER_WAIT: waited,
        }
        if record.template is not None:
            attributes[names.URL_TEMPLATE] = record.template
        if resends:
            attributes[names.RESEND_COUNT] = resends
        name = record.method if record.template is None else f"{record.method} {record.template}"
        self.attempt = self.tracer.start_span(name, kind=SpanKind.CLIENT, attributes=attributes)
        self.attempt_token = context.attach(trace.set_span_in_context(self.attempt))

    def attempt_answered(self, response: httpx.Response) -> None:
        span = self.attempt
        if span is None:
            return
        status = response.status_code
        span.set_attribute(names.HTTP_STATUS, status)
        request_id = response.headers.get("x-request-id")
        if request_id:
            span.set_attribute(names.REQUEST_ID, request_id)
        if status >= 400:
            span.set_attribute(names.ERROR_TYPE, str(status))
            span.set_status(StatusCode.ERROR)
        self._end_attempt()

    def attempt_failed(self, exc: BaseException) -> None:
        span = self.attempt
        if span is None:
            return
        span.set_attribute(names.ERROR_TYPE, error_type(exc))
        span.set_status(StatusCode.ERROR)  # the type says it; a message may quote the request
        self._end_attempt()

    def event(self, name: str, attributes: Mapping[str, AttributeValue]) -> None:
        if self.span is not None:
            self.span.add_event(name, attributes)

    def end(self, error: BaseException | None) -> None:
        if self.attempt is not None:  # cancelled, or a deadline, in the middle of an attempt
            self.attempt_failed(error if error is not None else RuntimeError("abandoned"))
        span = self.span
        if span is None:
            return
        span.set_attribute(names.ATTEMPTS, self.record.attempts)
        span.set_attribute(names.LIMITER_WAIT, self.record.waited)
        if error is not None:
            _record_error(span, error, with_message=self.record.telemetry.record_query_text)
        context.detach(self.token)  # type: ignore[arg-type]
        span.end()
        self.span = None

    def _end_attempt(self) -> None:
        assert self.attempt is not None
        context.detach(self.attempt_token)  # type: ignore[arg-type]
        self.attempt.end()
        self.attempt = None


def _without_credentials(url: httpx.URL) -> str:
    """The URL as the HTTP conventions want it in `url.full`: a user and password redacted."""
    if not url.userinfo:
        return str(url)
    return str(url.copy_with(username="REDACTED", password="REDACTED"))  # noqa: S106 - a mask


def error_type(exc: BaseException) -> str:
    """The exception's type as users import it: `cortexio_sdk.RateLimitError`, `httpx.ReadError`."""
    cls = type(exc)
    module = cls.__module__
    if module.startswith(("cortexio_sdk.", "httpx.")):
        module = module.split(".", 1)[0]
    return f"{module}.{cls.__qualname__}"


def _record_error(span: trace.Span, error: BaseException, *, with_message: bool) -> None:
    """The SDK's exception type, Cortex's error type and the request id, always; the message and
    stack only `with_message` (`record_query_text=True`): Cortex's message for a bad query
    quotes the query. The key is in no message (it is only ever a header, which none quotes)."""
    span.set_attribute(names.ERROR_TYPE, error_type(error))
    cortex_type = getattr(error, "error_type", None)
    if cortex_type is not None:
        span.set_attribute(names.CORTEX_ERROR_TYPE, str(cortex_type))
    request_id = getattr(error, "request_id", None)
    if request_id:
        span.set_attribute(names.REQUEST_ID, str(request_id))
    if with_message:
        span.record_exception(error)
        span.set_status(StatusCode.ERROR, f"{type(error).__name__}: {error}")
    else:
        span.add_event("exception", {"exception.type": error_type(error)})
        span.set_status(StatusCode.ERROR)


def _observe_rates(options: CallbackOptions) -> Iterable[Observation]:
    """Each live client's limiter rate by kind and server: local limiters of one host add up
    (each sends at its own rate), Redis ones do not (each reports the rate the fleet shares)."""
    rates: defaultdict[tuple[str, str], float] = defaultdict(float)
    for telemetry in live_telemetry():
        limiter = telemetry.limiter
        key = (limiter.kind, telemetry.server[1])
        if limiter.kind == "local":
            rates[key] += limiter.rate
        else:
            rates[key] = max(rates[key], limiter.rate)
    return [
        Observation(rate, {names.LIMITER_KIND: kind, names.SERVER_ADDRESS: host})
        for (kind, host), rate in rates.items()
    ]


class _Cache:
    """The instruments of the providers last seen, and those providers."""

    providers: tuple[object, object] | None = None
    instruments: Instruments | None = None


def instruments() -> Instruments | None:
    """The instruments of the global providers; None when the service set neither.

    Checked on every call (two lookups): a service may set its providers after making a client.
    """
    tracer_provider = trace.get_tracer_provider()
    meter_provider = metrics.get_meter_provider()
    seen = _Cache.providers
    if seen is not None and seen[0] is tracer_provider and seen[1] is meter_provider:
        return _Cache.instruments
    tracing, metering = not _unset(tracer_provider), not _unset(meter_provider)
    made = None
    if tracing or metering:
        try:
            made = Instruments(
                tracer_provider.get_tracer(names.INSTRUMENTATION_SCOPE, __version__)
                if tracing
                else None,
                meter_provider.get_meter(names.INSTRUMENTATION_SCOPE, __version__)
                if metering
                else None,
            )
        except Exception as exc:  # an API older than the extra allows, a broken provider
            # Telemetry must never fail a call: said once, then the calls go on untraced.
            logger.warning(
                "OpenTelemetry could not be set up (%s: %s); cortexio_sdk records no traces "
                "or metrics (the otel extra needs opentelemetry-api 1.30 or newer)",
                type(exc).__name__,
                exc,
            )
    _Cache.providers, _Cache.instruments = (tracer_provider, meter_provider), made
    return made
